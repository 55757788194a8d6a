import { setFlagsFromString } from 'node:v8';

const PRETENURING_FLAG = 'allocation-site-pretenuring';

/** Whether node's own arguments name the pretenuring flag, either way and in either spelling: the operator's choice wins. */
export function operatorChosePretenuring(execArgv: readonly string[]): boolean {
  return execArgv.some((arg) => arg.replace(/_/g, '-').includes(PRETENURING_FLAG));
}

/**
 * Turns off V8's allocation-site pretenuring in the serving process, unless the operator named the
 * flag in node's own arguments. (Node refuses it in NODE_OPTIONS.)
 *
 * Why: under steady load V8 can decide that some of a Check's allocation sites are long-lived and
 * allocate their objects straight in the old generation. Each such object dies with its request, but
 * until the next full collection it still points at the rest of that request (the call, the stream,
 * the decoded CheckRequest), so every young-generation collection copies all of them and promotes
 * them: about 5 MB per collection at 14,000 checks/s, 5–7 ms pauses, and more full collections. The
 * process stays in that state once it enters it. A server whose per-request objects all die young
 * has nothing to gain from pretenuring (bench/OPTIMIZATIONS.md has the measurements).
 *
 * Set at run time, by the CLI before `serve` loads its modules: V8 reads the flag when it weighs
 * allocation feedback during a collection, but a site it has already marked keeps its mark, so the
 * earlier the better.
 */
export function disablePretenuring(): void {
  if (!operatorChosePretenuring(process.execArgv)) setFlagsFromString(`--no-${PRETENURING_FLAG}`);
}
