/**
 * `require.when`: a CEL expression over the request and the verified identity, for the rules a
 * comparison with a literal cannot state (the `{userId}` in the path is the token's `sub`; the tenant
 * in the path, a header and the token agree). Compiled and type-checked once at load; evaluated per
 * request only after the other keys of its requirement set hold.
 *
 * Evaluation never throws into a Check: a missing key, a missing header or a type mismatch makes the
 * condition false (deny), and so does any result that is not the boolean `true`.
 *
 * What bounds one evaluation: the expression (at most MAX_CONDITION_LENGTH characters and
 * MAX_AST_NODES nodes), no regular expressions (`matches` backtracks in JavaScript's engine, so a
 * pattern with nested quantifiers would let a client-chosen header cost seconds), and no nested
 * comprehension (`all`, `exists`, `exists_one`, `map`, `filter` inside another), so the work is linear
 * in the expression times the size of the data, which the token and header size limits bound.
 */
import { Environment } from '@marcbachmann/cel-js';
import { readActorChain } from '../util/actor-chain.js';
import { PolicyError, type FieldPath } from './errors.js';

export const MAX_CONDITION_LENGTH = 2048;
const MAX_AST_NODES = 512;
/** The longest act chain a condition reads: the most `actor.maxChainDepth` allows. */
const MAX_ACTORS = 16;

/** The variables a condition sees; `request` and `claims` are built only when a condition runs. */
export interface ConditionVariables {
  request: { method: string; path: string; host: string; headers: Record<string, string>; query: Record<string, string> };
  params: Readonly<Record<string, string>>;
  claims: Readonly<Record<string, unknown>>;
  token: { provider: string };
  peer: { principal: string };
  actors: string[];
}

const environment = new Environment({
  limits: { maxAstNodes: MAX_AST_NODES, maxDepth: 32, maxListElements: 256, maxMapEntries: 256, maxCallArguments: 8 },
})
  .registerVariable({
    name: 'request',
    schema: { method: 'string', path: 'string', host: 'string', headers: 'map<string, string>', query: 'map<string, string>' },
  })
  .registerVariable('params', 'map<string, string>')
  .registerVariable('claims', 'map<string, dyn>')
  .registerVariable({ name: 'token', schema: { provider: 'string' } })
  .registerVariable({ name: 'peer', schema: { principal: 'string' } })
  .registerVariable('actors', 'list<string>');

const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter']);

interface AstNode {
  op: string;
  args: unknown;
  start?: number;
  end?: number;
}

const isNode = (value: unknown): value is AstNode => typeof value === 'object' && value !== null && 'op' in value && 'args' in value;

/** Every node below `value` (arrays of arguments included), depth first, with its comprehension depth. */
function* walk(value: unknown, depth = 0): Generator<{ node: AstNode; depth: number }> {
  if (Array.isArray(value)) {
    for (const item of value) yield* walk(item, depth);
    return;
  }
  if (!isNode(value)) return;
  const name = functionName(value);
  const inside = name !== undefined && COMPREHENSIONS.has(name) && value.op === 'rcall' ? depth + 1 : depth;
  yield { node: value, depth: inside };
  yield* walk(value.args, inside);
}

function functionName(node: AstNode): string | undefined {
  if ((node.op !== 'call' && node.op !== 'rcall') || !Array.isArray(node.args)) return undefined;
  const name: unknown = node.args[0];
  return typeof name === 'string' ? name : undefined;
}

/** What the language allows but a per-request condition must not do (see the module comment). */
function unboundedWork(ast: unknown): string | undefined {
  for (const { node, depth } of walk(ast)) {
    if (functionName(node) === 'matches')
      return 'matches() is not available: regular expressions can take time a client chooses; use startsWith, endsWith or contains';
    if (depth > 1)
      return 'a comprehension (all, exists, exists_one, map, filter) inside another is not allowed: it multiplies the work per request';
  }
  return undefined;
}

/** The operands of a top-level `a && b && c`, as source text: what `tollgate check` names when one is false. */
function topLevelClauses(ast: unknown, source: string): string[] {
  if (!isNode(ast) || ast.op !== '&&' || !Array.isArray(ast.args)) return [];
  return ast.args.flatMap((arg: unknown) => {
    const nested = topLevelClauses(arg, source);
    if (nested.length > 0) return nested;
    return isNode(arg) && arg.start !== undefined && arg.end !== undefined ? [source.slice(arg.start, arg.end)] : [];
  });
}

/**
 * The variables a condition reads that cost something to build per request: the header and query maps,
 * the act chain, the parameters. The others are fields already at hand.
 */
export interface ConditionNeeds {
  readonly headers: boolean;
  readonly query: boolean;
  readonly actors: boolean;
  readonly params: boolean;
}

/**
 * What `ast` reads, from its identifiers and the fields it takes of `request`. A computed field
 * (`request[name]`) or `request` used whole could read any field: then every field is built.
 */
function needsOf(ast: unknown): ConditionNeeds {
  const identifiers = new Set<string>();
  const fields = new Set<string>();
  let anyField = false;
  let requestUses = 0;
  let requestFieldUses = 0;
  for (const { node } of walk(ast)) {
    if (node.op === 'id' && typeof node.args === 'string') {
      identifiers.add(node.args);
      if (node.args === 'request') requestUses++;
    }
    if ((node.op !== '.' && node.op !== '[]') || !Array.isArray(node.args)) continue;
    const [target, field] = node.args as unknown[];
    if (!isNode(target) || target.op !== 'id' || target.args !== 'request') continue;
    requestFieldUses++;
    if (node.op === '.' && typeof field === 'string') fields.add(field);
    else if (node.op === '[]' && isNode(field) && field.op === 'value' && typeof field.args === 'string') fields.add(field.args);
    else anyField = true;
  }
  // `request` used whole (compared, passed to a function) could read any field too.
  const all = anyField || requestUses > requestFieldUses;
  return {
    headers: all || fields.has('headers'),
    query: all || fields.has('query'),
    actors: identifiers.has('actors'),
    params: identifiers.has('params'),
  };
}

export interface CompiledCondition {
  readonly source: string;
  /** Which costly variables the expression reads: only those are built for it. */
  readonly needs: ConditionNeeds;
  /** True only when the expression evaluates to the boolean `true`; never throws. */
  holds(variables: ConditionVariables): boolean;
  /** For explanations: the first top-level `&&` clause that is not true, or undefined. */
  falseClause(variables: ConditionVariables): string | undefined;
}

type Evaluator = (variables: ConditionVariables) => unknown;

function safely(evaluate: Evaluator, variables: ConditionVariables): boolean {
  try {
    return evaluate(variables) === true;
  } catch {
    // A missing key or header, or a type the claims did not have: the condition does not hold.
    return false;
  }
}

/** Throws PolicyError naming `field` with CEL's own message when the expression cannot be used. */
export function compileCondition(ruleId: string, field: FieldPath, source: string): CompiledCondition {
  const fail = (detail: string) => new PolicyError(ruleId, field, detail);
  const checked = environment.check(source);
  if (!checked.valid) throw fail(`not a valid condition: ${firstLine(checked.error?.message)}`);
  if (checked.type !== 'bool' && checked.type !== 'dyn')
    throw fail(`the condition evaluates to ${checked.type}, not bool; compare it, e.g. ${source} == "..."`);
  const parsed = environment.parse(source);
  const unbounded = unboundedWork(parsed.ast);
  if (unbounded) throw fail(unbounded);
  const evaluate = parsed as unknown as Evaluator;

  let clauses: { source: string; evaluate: Evaluator }[] | undefined;
  return {
    source,
    needs: needsOf(parsed.ast),
    holds: (variables) => safely(evaluate, variables),
    falseClause(variables) {
      // Compiled on first use: only `tollgate check` and `tollgate test` ask.
      clauses ??= topLevelClauses(parsed.ast, source).map((clause) => ({
        source: clause,
        evaluate: environment.parse(clause),
      }));
      return clauses.find((clause) => !safely(clause.evaluate, variables))?.source;
    },
  };
}

/** CEL's messages point at the column on the lines after the first; a config error is one line. */
function firstLine(message: string | undefined): string {
  return (message ?? 'unknown error').split('\n')[0]!.trim();
}

/** `actors`: the subjects of the token's act chain, nearest first; empty when it has none or it is malformed. */
export function actorsOf(claims: Readonly<Record<string, unknown>>): string[] {
  const chain = readActorChain(claims.act, MAX_ACTORS);
  return chain.ok ? chain.principals : [];
}
