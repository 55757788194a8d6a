/**
 * `tollgate/identity`: for services BEHIND tollgate. It reads the identity headers tollgate injects and
 * trusts them, which is safe only because tollgate strips every incoming header under its identity
 * prefixes before the request reaches the service. A service reachable without passing through Envoy
 * and tollgate must not use it: anyone could send the headers.
 *
 * The header contract (what tollgate sends, so services in any language can read it the same way):
 * - the subject header (default `x-user-id`, from `claimToHeaders: [{header: x-user-id, claim: sub}]`):
 *   the token's `sub`. Absent: the request is anonymous.
 * - the roles header (default `x-user-roles`, `claim: roles`): either a comma-separated list of flat
 *   roles (`admin,editor`), or a JSON object of context roles
 *   (`{"course":{"teacher":["123"],"ta":["246"]}}`; ids may be strings or integers). The encoding
 *   (header-value.ts) is shared with tollgate's injector: a value it cannot write unambiguously (a
 *   role containing `,`, a string claim that looks like JSON) is not injected at all.
 * - `x-user-view-as`: present when tollgate decided the request as a lesser role (viewAs); the roles
 *   header then shows the viewed context with that role only.
 * It imports nothing else from tollgate, so it adds nothing to a service's dependencies.
 */
import { decodeContextRoles, decodeList, isObjectValue } from './header-value.js';

export { decodeContextRoles, decodeList, encodeClaim, isObjectValue } from './header-value.js';

/** Header names, as configured in tollgate's `claimToHeaders` (lower-case). */
export interface IdentityHeaderNames {
  subject: string;
  roles: string;
  viewAs: string;
}

export const DEFAULT_HEADER_NAMES: IdentityHeaderNames = { subject: 'x-user-id', roles: 'x-user-roles', viewAs: 'x-user-view-as' };

export interface Identity {
  /** The token's `sub`; null when tollgate let the request through without a user (an open route). */
  subject: string | null;
  /** Flat roles (`roles: [admin]` in the token). */
  roles: readonly string[];
  /** Context → role → ids. */
  contextRoles: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  /** The role the request was decided as, when the user asked to view as a lesser role. */
  viewAs: string | null;
}

/** Node's `req.headers` (lower-case names) or a Fetch API `Headers`. */
export type HeaderSource = { get(name: string): string | null } | Readonly<Record<string, string | string[] | undefined>>;

function header(headers: HeaderSource, name: string): string | null {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name);
  const value = (headers as Readonly<Record<string, string | string[] | undefined>>)[name];
  // tollgate overwrites its headers, so there is one value; a list means something else set it too.
  return typeof value === 'string' ? value : null;
}

/** Reads the identity tollgate injected. Headers it does not recognise are ignored, never guessed at. */
export function identityFrom(headers: HeaderSource, names: Partial<IdentityHeaderNames> = {}): Identity {
  const { subject, roles, viewAs } = { ...DEFAULT_HEADER_NAMES, ...names };
  const rolesText = header(headers, roles) ?? '';
  const isObject = isObjectValue(rolesText);
  return {
    subject: header(headers, subject) || null,
    roles: isObject ? [] : decodeList(rolesText),
    contextRoles: isObject ? decodeContextRoles(rolesText) : {},
    viewAs: header(headers, viewAs) || null,
  };
}

export function isAuthenticated(identity: Identity): boolean {
  return identity.subject !== null;
}

/** `is_authorized(user, context, context_id, role)`: the identity holds `role` for that context id. */
export function isAuthorized(identity: Identity, context: string, contextId: string | number, role: string): boolean {
  if (!isAuthenticated(identity)) return false;
  const byRole = Object.hasOwn(identity.contextRoles, context) ? identity.contextRoles[context] : undefined;
  const ids = byRole && Object.hasOwn(byRole, role) ? byRole[role] : undefined;
  return ids?.includes(String(contextId)) ?? false;
}
