import type { AllowOutcome } from './respond.js';
import { isObject } from '../util/claim-path.js';

/**
 * A claim's value as the request was decided, for the headers and the minted internal token: when it is a contextRole's claim, the
 * roles a context source granted are added, and a view-as downgrade leaves only the viewed-as role in
 * the viewed context. Any other claim is returned as is.
 */
export function decidedRoles(value: unknown, claim: string, decided: Pick<AllowOutcome, 'viewAs' | 'granted'>): unknown {
  let roles = value;
  // A source was asked because the token does not list the context at all: its grants are the whole
  // entry, merged when one request was granted roles in several ids of that context.
  const grantedEntries = new Map<string, Map<string, string[]>>();
  for (const grant of decided.granted ?? []) {
    if (grant.claim !== claim) continue;
    let byRole = grantedEntries.get(grant.context);
    if (!byRole) grantedEntries.set(grant.context, (byRole = new Map<string, string[]>()));
    for (const role of grant.roles) {
      const ids = byRole.get(role) ?? [];
      if (!ids.includes(grant.id)) byRole.set(role, [...ids, grant.id]);
    }
  }
  for (const [context, byRole] of grantedEntries) roles = { ...(isObject(roles) ? roles : {}), [context]: Object.fromEntries(byRole) };
  const viewAs = decided.viewAs;
  if (viewAs?.claim === claim) roles = { ...(isObject(roles) ? roles : {}), [viewAs.context]: { [viewAs.role]: [viewAs.id] } };
  return roles;
}

/**
 * The verified claims as the request was decided, for a minted internal token: the contextRole claims
 * a view-as downgrade or a context source's grant concern, rewritten as the headers show them. A
 * service behind pattern 4 decides on that token, so it must see what the gateway decided on.
 * Undefined when such a claim sits at a nested path (`realm_access.roles`): rewriting inside the
 * object is not done, so the caller refuses to mint rather than carry the undecided roles.
 */
export function decidedClaims(
  claims: Readonly<Record<string, unknown>>,
  decided: Pick<AllowOutcome, 'viewAs' | 'granted'>,
): Readonly<Record<string, unknown>> | undefined {
  const paths = new Set<string>((decided.granted ?? []).map((grant) => grant.claim));
  if (decided.viewAs) paths.add(decided.viewAs.claim);
  if (paths.size === 0) return claims;
  const out: Record<string, unknown> = { ...claims };
  for (const path of paths) {
    const topLevel = Object.hasOwn(claims, path) || !path.includes('.');
    if (!topLevel) return undefined;
    out[path] = decidedRoles(Object.hasOwn(claims, path) ? claims[path] : undefined, path, decided);
  }
  return out;
}
