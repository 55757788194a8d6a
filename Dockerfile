# tollgate container image.
#
#   docker build -t tollgate \
#     --build-arg VERSION="$(node -p 'require("./package.json").version')" \
#     --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm -p 9001:9001 -p 9002:9002 -v "$PWD/config:/etc/tollgate:ro" tollgate
#
# Three stages: `build` compiles TypeScript with the full dependency set, `deps` installs production
# dependencies only, and the runtime stage copies dist/, proto/ and those node_modules onto a
# distroless Node.js 26 image (the active LTS line): no shell, no package manager, non-root (UID 65532).
# All three stages run the same Node.js major, so what is installed and built is what runs. The base
# images are referenced by tag; Renovate (renovate.json) pins and refreshes their digests.
#
# test/deploy/dockerfile.test.ts replays the COPY and RUN steps below on this machine (no Docker needed)
# and starts the result, so keep each step a plain COPY or RUN that a script can follow.

FROM node:26-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script would build before the sources are here; we build below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:26-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. None needs an install script: all are pure JavaScript (protobufjs's
# postinstall only checks its optional command-line tools).
RUN npm ci --omit=dev --ignore-scripts

FROM gcr.io/distroless/nodejs26-debian13:nonroot
# OCI annotations: which tollgate this is and which commit it was built from (the build args above);
# scanners and registries show them, and base.name tells them which runtime the image inherits.
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="tollgate" \
      org.opencontainers.image.description="External authorization server for Envoy (ext_authz): JWT validation, declarative policy, revocation, trusted identity headers" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs26-debian13:nonroot"
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
