import { z } from 'zod';
import { MAX_REASON_LENGTH, MAX_VALUE_LENGTH } from '../revocation/index.js';
import { HttpError } from './http.js';
import { parseRfc3339, RFC3339_HINT } from './time.js';

const required = (otherwise: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'required' : otherwise);

const identifier = z
  .string({ error: required('must be a string') })
  .min(1, 'must not be empty')
  .max(MAX_VALUE_LENGTH, `must be at most ${MAX_VALUE_LENGTH} characters`);

const reason = z
  .string({ error: required('must be a string') })
  .min(1, 'must not be empty')
  .max(MAX_REASON_LENGTH, `must be at most ${MAX_REASON_LENGTH} characters`);

/** RFC 3339 string in, epoch seconds out. */
const timestamp = z.string({ error: RFC3339_HINT }).transform((text, ctx) => {
  const seconds = parseRfc3339(text);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', message: RFC3339_HINT });
    return z.NEVER;
  }
  return seconds;
});

const object = { error: 'must be a JSON object' };

export const revokeBodySchema = z.strictObject(
  {
    type: z.enum(['jti', 'sid', 'sub'], { error: required('must be one of jti, sid, sub') }),
    value: identifier,
    /** Why, for the audit trail: required so every revocation can be explained later. */
    reason,
    notBefore: timestamp.optional(),
    expiresAt: timestamp.optional(),
    /** For jti/sid: whose token or session it is (informational). */
    sub: identifier.optional(),
  },
  object,
);

export const refreshBodySchema = z.strictObject({ at: timestamp.optional(), reason: reason.optional() }, object);

/** Validate once at the boundary; the first problem becomes a 400 naming its field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new HttpError(400, 'bad_request', 'body: invalid', 'body');
  if (issue.code === 'unrecognized_keys') {
    const field = issue.keys[0] ?? 'body';
    throw new HttpError(400, 'bad_request', `${field}: unknown field`, field);
  }
  const field = issue.path.length === 0 ? 'body' : issue.path.map(String).join('.');
  const message = body === undefined && field === 'body' ? 'required' : issue.message;
  throw new HttpError(400, 'bad_request', `${field}: ${message}`, field);
}
