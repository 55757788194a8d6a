// A service behind tollgate reading the identity it injects, with node:http only (no framework).
// Run after `npm run build`: `node examples/identity/server.mjs` (PORT, default 8080).
// Only for services reachable solely through Envoy + tollgate: the headers are trusted because
// tollgate strips forged ones; a service reachable directly must not trust them.
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { identityFrom, isAuthenticated, isAuthorized } from 'tollgate/identity';

/**
 * Middleware: the request's user must hold one of `roles` in the course named by the second path
 * segment (`/courses/{courseId}/...`). 401 without a user, 403 without the role; else `next` runs with
 * `req.identity` set.
 */
export function requireCourseRole(roles, next) {
  return (req, res) => {
    const identity = identityFrom(req.headers);
    if (!isAuthenticated(identity)) return void res.writeHead(401).end();
    const courseId = new URL(req.url ?? '/', 'http://service').pathname.split('/')[2] ?? '';
    if (!roles.some((role) => isAuthorized(identity, 'course', courseId, role))) return void res.writeHead(403).end();
    req.identity = identity;
    next(req, res);
  };
}

export function createApp() {
  return createServer(
    requireCourseRole(['teacher', 'ta', 'student'], (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ subject: req.identity.subject, viewAs: req.identity.viewAs }));
    }),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) createApp().listen(Number(process.env.PORT ?? 8080));
