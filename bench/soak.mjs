// `node bench/run.mjs --soak MINUTES`: distinct tokens and revocations for MINUTES against one tollgate.
// Distinct valid tokens cycle through a token cache smaller than their number (every check misses and
// evicts); revocations arrive through the admin API at a steady rate. Every 10 s: RSS, open file
// descriptors, cached tokens. After a warm-up fifth: RSS within 10 %, no fd growth, the cache at its
// bound, every revocation kept. Not part of the default run.
// `--reload-storm`: the same, with a SIGHUP (a full config reload: a new runtime, new caches) every
// second throughout, as a ConfigMap edited in a loop would cause. A reload must release the runtime it
// replaces, so RSS must stay as flat as without it; the token cache is emptied at each reload, so its
// bound is not a target then, and every reload must succeed instead.
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRevocationLog } from './config/generate.mjs';
import { memory, runNodeJson, sleep } from './proc.mjs';
import { podMemoryCgroup } from './memory-limit.mjs';
import { startTollgate } from './servers.mjs';

const BENCH = fileURLToPath(new URL('./', import.meta.url));
const CACHE_ENTRIES = 10_000;
const SAMPLE_MS = 10_000;
const REVOCATIONS_PER_SECOND = 20;
const ADMIN_SECRET = 'bench-soak-admin-secret-0123456789';
const RELOAD_EVERY_MS = 1000;

/** The soak, run in the pod's memory limit, as deployed (bench/memory-limit.mjs): V8 sizes its heap from it. */
export async function runSoak(options) {
  const pod = podMemoryCgroup('tollgate-soak', options.log);
  try {
    return { ...(await soakIn(pod.dir, options)), limit: pod.limit };
  } finally {
    pod.dispose();
  }
}

async function soakIn(cgroup, { dir, base, frames, minutes, reloadStorm = false, log }) {
  const seconds = Math.round(minutes * 60);
  const revocationLog = path.join(dir, 'soak-revocations.log');
  writeRevocationLog(revocationLog, 0);
  const tokenFile = path.join(dir, 'soak-admin-token');
  writeFileSync(tokenFile, ADMIN_SECRET);
  const server = await startTollgate(
    dir,
    'soak',
    { ...base, tokenCache: CACHE_ENTRIES, revocation: { path: revocationLog }, admin: { tokenFile } },
    { cgroup },
  );
  const samples = [];
  let revoked = 0;
  let refused = 0;
  let reloads = 0;
  try {
    log(
      `soak: ${minutes} min of distinct tokens (cache ${CACHE_ENTRIES}) and ${REVOCATIONS_PER_SECOND} revocations/s${reloadStorm ? ', one config reload (SIGHUP) a second' : ''}`,
    );
    const load = runNodeJson(
      path.join(BENCH, 'load-node.mjs'),
      [
        '--port',
        String(server.grpcPort),
        '--frames',
        frames,
        '--duration',
        String(seconds),
        '--warmup',
        '0',
        '--connections',
        '2',
        '--streams',
        '16',
      ],
      (seconds + 120) * 1000,
    );
    let loading = true;
    void load.finally(() => (loading = false));
    const reloader = (async () => {
      while (reloadStorm && loading) {
        process.kill(server.pid, 'SIGHUP');
        reloads++;
        await sleep(RELOAD_EVERY_MS);
      }
    })();
    const revoker = (async () => {
      while (loading) {
        const status = await revoke(server.httpPort, `soak-${revoked + refused}`);
        if (status === 201) revoked++;
        else refused++;
        await sleep(1000 / REVOCATIONS_PER_SECOND);
      }
    })();
    while (loading) {
      samples.push({
        at: samples.length * (SAMPLE_MS / 1000),
        rssMB: memory(server.pid).rssMB,
        fds: readdirSync(`/proc/${server.pid}/fd`).length,
        cached: await cacheEntries(server.httpPort),
      });
      log(
        `  ${samples.at(-1).at} s: RSS ${samples.at(-1).rssMB.toFixed(0)} MB, ${samples.at(-1).fds} fds, ${samples.at(-1).cached} cached tokens, ${revoked} revocations`,
      );
      await Promise.race([sleep(SAMPLE_MS), load]);
    }
    const result = await load;
    await revoker;
    await reloader;
    await sleep(RELOAD_EVERY_MS); // the last reload finishes before it is counted
    const listed = await listRevocations(server.httpPort);
    const reloaded = await reloadCounts(server.httpPort);
    return {
      minutes,
      checks: result.requests,
      rps: result.rps,
      failed: result.failed,
      revoked,
      refused,
      listed,
      samples,
      cacheBound: CACHE_ENTRIES,
      reloadStorm,
      reloads,
      reloaded,
    };
  } finally {
    await server.stop();
  }
}

/** The soak's PASS/FAIL lines. */
export function soakTargets(soak) {
  const after = soak.samples.slice(Math.ceil(soak.samples.length / 5));
  const rss = after.map((s) => s.rssMB);
  const fds = after.map((s) => s.fds);
  const spread = Math.max(...rss) / Math.min(...rss) - 1;
  return [
    {
      name: `soak: RSS flat within 10 % after warm-up (${soak.limit.applied ? `in the pod's ${(soak.limit.bytes / 2 ** 20).toFixed(0)} MiB memory limit` : 'no memory limit'})`,
      pass: spread <= 0.1,
      detail: `${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB (${(spread * 100).toFixed(1)} %)`,
    },
    {
      name: 'soak: no file-descriptor growth',
      pass: Math.max(...fds) <= Math.min(...fds) + 2,
      detail: `${Math.min(...fds)}–${Math.max(...fds)} open`,
    },
    soak.reloadStorm
      ? {
          name: 'soak: every reload of the storm succeeded',
          pass: soak.reloaded.error === 0 && soak.reloaded.success >= soak.reloads,
          detail: `${soak.reloads} SIGHUPs, ${soak.reloaded.success} reloads succeeded, ${soak.reloaded.error} failed; cached tokens at the samples: ${after.map((s) => s.cached).join(', ')}`,
        }
      : {
          name: 'soak: token cache at its bound',
          pass: after.every((s) => s.cached === soak.cacheBound),
          detail: `cached after warm-up: ${[...new Set(after.map((s) => s.cached))].join(', ')} (bound ${soak.cacheBound})`,
        },
    {
      name: 'soak: every revocation kept',
      pass: soak.refused === 0 && soak.listed >= soak.revoked,
      detail: `${soak.revoked} stored, ${soak.refused} refused, ${soak.listed} listed; ${soak.checks} checks, ${soak.failed} failed`,
    },
  ];
}

function revoke(httpPort, jti) {
  return fetch(`http://127.0.0.1:${httpPort}/admin/v1/revocations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_SECRET}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'jti', value: jti, reason: 'bench soak' }),
  }).then((r) => r.status);
}

async function listRevocations(httpPort) {
  const response = await fetch(`http://127.0.0.1:${httpPort}/admin/v1/revocations`, {
    headers: { authorization: `Bearer ${ADMIN_SECRET}` },
  });
  return ((await response.json()).revocations ?? []).length;
}

async function cacheEntries(httpPort) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^tollgate_token_cache_entries (\S+)$/m.exec(text)?.[1] ?? NaN);
}

async function reloadCounts(httpPort) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const count = (result) => Number(new RegExp(`^tollgate_config_reload_total\\{result="${result}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { success: count('success'), error: count('error') };
}
