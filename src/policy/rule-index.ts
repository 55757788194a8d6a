/**
 * Which rules can match a request, found without walking them all: a policy of thousands of rules (one
 * per route of a large API) must not make every check slower. Each rule is filed under the literal
 * segments its path templates start with (`/orders/{id}/items` under `orders`; `/**`, a leading
 * `{param}` or `*`, and a rule without paths under the empty prefix). A request looks up each of its own
 * prefixes; the rules filed there are the only ones whose literal prefix it has, so every other rule is
 * skipped without changing the answer. The candidates come back in rule order, so the first match is
 * still the first rule of the file that matches.
 *
 * One map keyed by the prefix joined with "/" rather than a trie of maps: a trie of a large API holds a
 * map for every service's first segment, about 3 MB for 10,000 rules, where this holds one entry per
 * distinct prefix. "/" cannot occur inside a segment (normalization rejects `%2F`), so a joined key
 * names exactly one prefix.
 */

export class RuleIndex {
  /** Rule indexes by joined literal prefix, ascending, each list at its exact length. */
  private readonly filed = new Map<string, number[]>();
  /** The longest prefix filed: a request's deeper prefixes are not looked up. */
  private readonly depth: number;

  /** `prefixes[i]`: rule i's literal path prefixes, one per template; null when the rule matches any path. */
  constructor(prefixes: ReadonlyArray<ReadonlyArray<readonly string[]> | null>) {
    let depth = 0;
    for (const [rule, paths] of prefixes.entries()) {
      for (const prefix of paths ?? [[]]) {
        const key = prefix.join('/');
        const rules = this.filed.get(key);
        // Two templates of one rule may share a prefix: file it once per prefix.
        if (!rules) this.filed.set(key, [rule]);
        else if (rules.at(-1) !== rule) rules.push(rule);
        depth = Math.max(depth, prefix.length);
      }
    }
    // Exact lengths: a list grown by push keeps room for 17 entries.
    for (const [key, rules] of this.filed) this.filed.set(key, rules.slice());
    this.depth = depth;
  }

  /** The indexes of the rules that may match a request with these normalized segments, ascending. */
  candidates(segments: readonly string[]): readonly number[] {
    let found: readonly number[] | undefined;
    let merged: number[] | undefined;
    let key = '';
    const deepest = Math.min(segments.length, this.depth);
    for (let depth = 0; depth <= deepest; depth++) {
      if (depth > 0) key = depth === 1 ? segments[0]! : `${key}/${segments[depth - 1]!}`;
      const rules = this.filed.get(key);
      if (rules === undefined) continue;
      if (found === undefined) found = rules;
      else (merged ??= [...found]).push(...rules);
    }
    if (merged === undefined) return found ?? [];
    // A rule filed under two prefixes of this path (`/a/**` and `/a/b`) is a candidate once.
    merged.sort((a, b) => a - b);
    return merged.filter((rule, i) => i === 0 || merged[i - 1] !== rule);
  }
}
