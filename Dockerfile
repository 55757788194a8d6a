# tollgate container image.
#
#   docker build -t tollgate .
#   docker run --rm -p 9001:9001 -p 9002:9002 -v "$PWD/config:/etc/tollgate:ro" tollgate
#
# Three stages: `build` compiles TypeScript with the full dependency set, `deps` installs production
# dependencies only, and the runtime stage copies dist/, proto/ and those node_modules onto a
# distroless Node.js 20 image: no shell, no package manager, non-root (UID 65532).
#
# test/deploy/dockerfile.test.ts replays the COPY and RUN steps below on this machine (no Docker needed)
# and starts the result, so keep each step a plain COPY or RUN that a script can follow.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script would build before the sources are here; we build below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. None needs an install script: all are pure JavaScript (protobufjs's
# postinstall only checks its optional command-line tools).
RUN npm ci --omit=dev --ignore-scripts

FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
# package.json carries "type": "module", which Node needs to load dist/ as ES modules.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The ext_authz protos tollgate serves, read at start from /app/proto.
COPY proto ./proto
USER 65532:65532
EXPOSE 9001 9002
ENTRYPOINT ["/nodejs/bin/node", "dist/cli.js", "serve"]
CMD ["--config", "/etc/tollgate/tollgate.yaml"]
