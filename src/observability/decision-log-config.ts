/** The `decisionLog:` section of the config: one JSON line per sampled decision, written off the Check path. */
import { z } from 'zod';
import { claimPathSchema } from '../util/claim-path.js';

const rate = (what: string) =>
  z
    .number({ error: `${what} must be a number from 0 to 1` })
    .min(0, { error: `${what} must be from 0 to 1` })
    .max(1, { error: `${what} must be from 0 to 1` });

export const decisionLogConfigSchema = z
  .strictObject({
    /** `stdout`, or `file` (appended to `path`). */
    sink: z.enum(['stdout', 'file'], { error: 'sink must be "stdout" or "file"' }).default('stdout'),
    path: z.string().min(1).optional(),
    /** Share of allowed decisions written; a Check path at full rate would log more than it decides. */
    sampleAllowed: rate('sampleAllowed').default(0),
    sampleDenied: rate('sampleDenied').default(1),
    /** Claim paths left out of each line's `claims`. */
    mask: z.array(claimPathSchema).default([]),
    /** Lines waiting for the sink; past this, lines are dropped and counted, never waited for. */
    maxQueue: z.number().int().min(1).max(1_000_000).default(10000),
  })
  .superRefine((log, ctx) => {
    if (log.sink === 'file' && log.path === undefined)
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'sink: file needs a path, e.g. path: /var/log/tollgate/decisions.jsonl' });
    if (log.sink === 'stdout' && log.path !== undefined)
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'path goes with sink: file' });
  });

export type DecisionLogConfig = z.infer<typeof decisionLogConfigSchema>;
