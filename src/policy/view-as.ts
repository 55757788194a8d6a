/**
 * The `viewAs:` section: a user may ask, with a header, to be decided as if they held a lesser role in
 * the request's context ("a teacher views the course as a student"). Only the downgrades listed in
 * `allow` are possible; the policy applies them inside a rule's `contextRole` (requirements.ts).
 */
import { z } from 'zod';
import { HOST_NOT_SETTABLE, settableByExtAuthz } from '../util/header-name.js';

const roleName = z.string({ error: 'roles must be strings' }).min(1, { error: 'roles must not be empty' });

export const viewAsConfigSchema = z.strictObject({
  header: z
    .string()
    .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, { error: 'header must be a lower-case header name' })
    // The ask is removed before the upstream.
    .refine(settableByExtAuthz, HOST_NOT_SETTABLE)
    .default('x-tollgate-view-as'),
  /** Held role → the roles its holder may view as. */
  allow: z.record(roleName, z.array(roleName).min(1, { error: 'list at least one role to view as' })),
});

export type ViewAsConfig = z.infer<typeof viewAsConfigSchema>;

/** The header tollgate injects with the role a request was decided as. */
export const VIEW_AS_INJECTED_HEADER = 'x-user-view-as';

/** What the deciding rule's contextRole applied, for the response's headers. */
export interface ViewAsApplied {
  role: string;
  context: string;
  id: string;
  /** The contextRole's claim path (its source text), whose injected header must show the downgrade. */
  claim: string;
}

/** A request's view-as ask, with the config's `allow` to judge it, and what was applied. */
export interface ViewAsRequest {
  readonly role: string;
  /** May a holder of `held` view as this request's `role`? */
  readonly allows: (held: string) => boolean;
  applied?: ViewAsApplied;
}

export function viewAsRequest(config: ViewAsConfig, role: string): ViewAsRequest {
  return { role, allows: (held) => Object.hasOwn(config.allow, held) && (config.allow[held]?.includes(role) ?? false) };
}
