import type { ContextRoleResolver, RolesAnswer } from '../context/index.js';
import type { ContextAnswers, ContextQuery, Decision } from '../policy/index.js';

/**
 * Rounds of asking before a decision is final. One is enough for a rule with one `contextRole`; each
 * `anyOf` alternative with its own fallback can add one. What is still unanswered after them denies.
 */
const MAX_ROUNDS = 4;

const UNANSWERED: Promise<RolesAnswer> = Promise.resolve({ ok: false });

/** The answers one request collected; a handful at most, so a list beats any keyed structure. */
class RequestAnswers implements ContextAnswers {
  private readonly entries: { query: ContextQuery; roles: readonly string[] | null }[] = [];

  get(query: ContextQuery): readonly string[] | null | undefined {
    return this.entries.find(
      ({ query: q }) =>
        q.source === query.source &&
        q.provider === query.provider &&
        q.sub === query.sub &&
        q.context === query.context &&
        q.id === query.id,
    )?.roles;
  }

  add(query: ContextQuery, roles: readonly string[] | null): void {
    this.entries.push({ query, roles });
  }
}

/**
 * Runs the synchronous policy, and when its decision waits for context sources (the token did not list
 * the context), asks them and runs it again with their answers. A decision that needs nothing is
 * returned as it is, not as a promise: most Checks never wait, and a promise per Check is garbage.
 * Without a resolver every query fails, so the rule denies.
 */
export function authorizeWithContext(
  authorize: (answers: ContextAnswers | undefined) => Decision,
  resolver: ContextRoleResolver | undefined,
): Decision | Promise<Decision> {
  const decision = authorize(undefined);
  return decision.pending === undefined ? decision : askSources(decision, authorize, resolver);
}

async function askSources(
  first: Decision,
  authorize: (answers: ContextAnswers | undefined) => Decision,
  resolver: ContextRoleResolver | undefined,
): Promise<Decision> {
  let decision = first;
  const answers = new RequestAnswers();
  for (let round = 0; round < MAX_ROUNDS && decision.pending !== undefined; round++) {
    const queries = decision.pending;
    const results = await Promise.all(queries.map((query) => resolver?.resolve(query) ?? UNANSWERED));
    queries.forEach((query, i) => {
      const result = results[i];
      answers.add(query, result?.ok ? result.roles : null);
    });
    decision = authorize(answers);
  }
  return decision;
}
