/**
 * The config watch reacts to the config file only: a log written into the same directory, or any
 * other file there, is not a reason to reload, and content already rejected is not retried until it
 * changes (each rejection line used to trigger the next reload).
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { Tollgate } from '../../src/server/app.js';
import { ManualClock } from '../../src/util/clock.js';
import { waitFor } from '../helpers/time.js';

const config = (extra: Record<string, unknown>) =>
  stringify({
    listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0', authz: '127.0.0.1:0' },
    shutdown: { notServingSeconds: 0, drainSeconds: 5 },
    rules: [],
    ...extra,
  });

describe('config watch', () => {
  let app: Tollgate | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await app?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('does not loop on its own log lines, and reports a rejected config once', async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-watch-'));
    const configPath = join(dir, 'tollgate.yaml');
    writeFileSync(configPath, config({ defaultDecision: 'deny' }));
    const lines: Array<Record<string, unknown>> = [];
    // The log goes into the config's own directory (`tollgate serve >> dir/tollgate.log`).
    const logger = createLogger('info', {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
        appendFileSync(join(dir!, 'tollgate.log'), line);
      },
    });
    app = await Tollgate.start({ configPath, logger, clock: new ManualClock(), watchConfig: true });
    const reloads = async (result: string) => {
      const text = await app!.registry.getSingleMetricAsString('tollgate_config_reload_total');
      return Number(new RegExp(`result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };

    const invalid = config({ defaultDecison: 'deny' });
    writeFileSync(configPath, invalid);
    await waitFor('the invalid config to be rejected', async () => (await reloads('error')) >= 1);
    // Proving that something does not happen needs a window: the loop this guards against reloaded
    // every 100 ms (the debounce) for as long as the invalid file stayed, so 500 ms would see several.
    await expect(
      waitFor('a second rejection', async () => (await reloads('error')) >= 2, { timeoutMs: 500, intervalMs: 20 }),
    ).rejects.toThrow(/timed out/);
    for (let i = 0; i < 20; i++) writeFileSync(join(dir, 'other.txt'), String(i));
    writeFileSync(configPath, invalid); // the same rejected content, written again

    writeFileSync(configPath, config({ defaultDecision: 'allow' }));
    await waitFor('the valid config to be applied', async () => (await reloads('success')) >= 1);
    expect(app.config.defaultDecision).toBe('allow');
    expect(await reloads('error')).toBe(1);
    expect(lines.filter((l) => l.msg === 'config reload rejected; the previous config keeps serving')).toHaveLength(1);
  });
});
