/**
 * authorizeWithContext: a policy decision that waits for context sources is asked again with their
 * answers, each answer found only under the exact query it answers, and the asking stops after a
 * fixed number of rounds (what is still unanswered then denies).
 */
import { describe, expect, it } from 'vitest';
import type { ContextRoleResolver, RolesAnswer } from '../../src/context/index.js';
import { authorizeWithContext } from '../../src/pipeline/context-roles.js';
import { compilePolicy, rulesSchema, type ContextAnswers, type ContextQuery, type Decision } from '../../src/policy/index.js';

/** A resolver answering from a table keyed by `source/context/id`, recording what it was asked. */
class TableResolver implements ContextRoleResolver {
  readonly asked: string[] = [];
  constructor(private readonly table: Record<string, RolesAnswer>) {}
  resolve(query: ContextQuery): Promise<RolesAnswer> {
    const key = `${query.source}/${query.context}/${query.id}`;
    this.asked.push(`${query.sub}@${key}`);
    return Promise.resolve(this.table[key] ?? { ok: false });
  }
}

/** `/c/{id}` needs teacher in a course by one of two sources, or teacher in school 7 by the first. */
const policy = compilePolicy(
  rulesSchema.parse([
    {
      id: 'course',
      match: { paths: ['/c/{id}'] },
      require: {
        anyOf: [
          { contextRole: { context: 'course', id: '{id}', anyOf: ['teacher'], fallback: 'a' } },
          { contextRole: { context: 'course', id: '{id}', anyOf: ['teacher'], fallback: 'b' } },
          { contextRole: { context: 'school', id: '{id}', anyOf: ['teacher'], fallback: 'a' } },
          { contextRole: { context: 'course', id: '7', anyOf: ['teacher'], fallback: 'a' } },
        ],
      },
    },
  ]),
  { defaultDecision: 'deny' },
);
const decide = (resolver: ContextRoleResolver | undefined) =>
  authorizeWithContext(
    (contextAnswers) =>
      policy.authorize(
        { method: 'GET', path: '/c/42', host: 'api', headers: new Map() },
        { provider: 'idp', claims: { sub: 'alice' } },
        { contextAnswers },
      ),
    resolver,
  );
const teacher: RolesAnswer = { ok: true, roles: ['teacher'] };
const none: RolesAnswer = { ok: true, roles: [] };

describe('authorizeWithContext', () => {
  it('asks every pending source once and decides on the answers', async () => {
    const resolver = new TableResolver({ 'a/course/42': none, 'b/course/42': teacher, 'a/school/42': none, 'a/course/7': none });
    const decision = await decide(resolver);
    expect(decision).toMatchObject({ allowed: true, ruleId: 'course' });
    expect(decision.pending).toBeUndefined();
    expect(resolver.asked.sort()).toEqual(['alice@a/course/42', 'alice@a/course/7', 'alice@a/school/42', 'alice@b/course/42']);
  });

  it('reads an answer only for the source, context and id it answers', async () => {
    for (const granted of ['a/school/42', 'a/course/7', 'b/course/42', 'a/course/42']) {
      const table = { 'a/course/42': none, 'b/course/42': none, 'a/school/42': none, 'a/course/7': none, [granted]: teacher };
      expect((await decide(new TableResolver(table))).allowed, granted).toBe(true);
    }
    // The one teacher answer is for school 7, which no alternative asks about.
    const elsewhere = new TableResolver({ 'a/school/7': teacher, 'a/course/42': none, 'b/course/42': none, 'a/course/7': none });
    expect(await decide(elsewhere)).toMatchObject({ allowed: false, ruleId: 'course' });
  });

  it('denies when a source fails or there is no resolver, as context_source_unavailable', async () => {
    expect(await decide(new TableResolver({}))).toMatchObject({ allowed: false, reason: 'context_source_unavailable' });
    const unanswered = await decide(undefined);
    expect(unanswered).toMatchObject({ allowed: false, reason: 'context_source_unavailable' });
    expect(unanswered.pending).toBeUndefined(); // answered as failed at once, not asked round after round
  });

  it('returns a decision that needs nothing after one call, and stops asking after four rounds', async () => {
    const queries = (n: number): ContextQuery[] => [{ source: 's', provider: 'idp', sub: 'alice', context: 'c', id: String(n) }];
    const seen: (ContextAnswers | undefined)[] = [];
    const settled = { allowed: true, ruleId: 'r', status: 'ok' } as Decision;
    // Not even a promise: most Checks never wait for a source, and a promise each would be garbage.
    const once = authorizeWithContext((answers) => {
      seen.push(answers);
      return settled;
    }, new TableResolver({}));
    expect(once).toBe(settled);
    expect(seen).toEqual([undefined]);

    // A decision that waits for a new query every round (each answered, none settling it).
    const resolver = new TableResolver({ 's/c/1': teacher, 's/c/2': teacher, 's/c/3': teacher, 's/c/4': teacher, 's/c/5': teacher });
    let calls = 0;
    const known: (readonly string[] | null | undefined)[] = [];
    const last = await authorizeWithContext((answers) => {
      if (answers) known.push(answers.get(queries(calls)[0]!), answers.get(queries(calls + 1)[0]!));
      calls++;
      return { ...settled, allowed: false, pending: queries(calls) };
    }, resolver);
    expect(calls).toBe(5);
    // Each round knows the answer to the query it asked, and nothing of the next one.
    expect(known).toEqual([['teacher'], undefined, ['teacher'], undefined, ['teacher'], undefined, ['teacher'], undefined]);
    expect(resolver.asked).toEqual(['alice@s/c/1', 'alice@s/c/2', 'alice@s/c/3', 'alice@s/c/4']);
    expect(last.pending).toEqual(queries(5));
  });
});
