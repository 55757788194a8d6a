/**
 * Which rules can match a request, found without walking them all: a policy of thousands of rules (one
 * per route of a large API) must not make every check slower. Each rule is filed in a trie under the
 * literal segments its path templates start with (`/orders/{id}/items` under `orders`; `/**`, a
 * leading `{param}` or `*`, and a rule without paths at the root). A request visits the nodes along its
 * own segments; the rules filed there are the only ones whose literal prefix it has, so every other
 * rule is skipped without changing the answer. The candidates come back in rule order, so the first
 * match is still the first rule of the file that matches.
 */

interface Node {
  /** Created on the first child: most nodes of a large API are leaves. */
  children?: Map<string, Node>;
  /** Indexes of the rules filed here, ascending. */
  rules: number[];
}

const node = (): Node => ({ rules: [] });

export class RuleIndex {
  private readonly root = node();

  /** `prefixes[i]`: rule i's literal path prefixes, one per template; null when the rule matches any path. */
  constructor(prefixes: ReadonlyArray<ReadonlyArray<readonly string[]> | null>) {
    for (const [rule, paths] of prefixes.entries()) {
      for (const prefix of paths ?? [[]]) {
        let at = this.root;
        for (const segment of prefix) {
          at.children ??= new Map();
          let next = at.children.get(segment);
          if (!next) at.children.set(segment, (next = node()));
          at = next;
        }
        // Two templates of one rule may share a prefix: file it once per node.
        if (at.rules.at(-1) !== rule) at.rules.push(rule);
      }
    }
    trim(this.root);
  }

  /** The indexes of the rules that may match a request with these normalized segments, ascending. */
  candidates(segments: readonly string[]): readonly number[] {
    let found: readonly number[] | undefined;
    let merged: number[] | undefined;
    let at: Node | undefined = this.root;
    for (let depth = 0; at !== undefined; depth++) {
      if (at.rules.length > 0) {
        if (found === undefined) found = at.rules;
        else (merged ??= [...found]).push(...at.rules);
      }
      if (depth === segments.length) break;
      at = at.children?.get(segments[depth]!);
    }
    if (merged === undefined) return found ?? [];
    // A rule filed at two nodes on this path (`/a/**` and `/a/b`) is a candidate once.
    merged.sort((a, b) => a - b);
    return merged.filter((rule, i) => i === 0 || merged[i - 1] !== rule);
  }
}

/** Gives every node's rule list its exact length: a list grown by push keeps room for 17 entries. */
function trim(at: Node): void {
  at.rules = at.rules.slice();
  for (const child of at.children?.values() ?? []) trim(child);
}
