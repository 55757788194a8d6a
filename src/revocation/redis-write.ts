import type { Redis } from 'ioredis';
import { errorMessage, RevocationOutcomeUnknownError, RevocationStoreUnavailableError } from './types.js';
import { ioredis } from './redis-topology.js';

/**
 * One change to one key, made durable on a Redis primary so that the answer never lies:
 *
 * - resolves: applied on the primary, confirmed by `wanted` replicas (WAIT), published;
 * - RevocationStoreUnavailableError: not applied, and it never will be;
 * - RevocationOutcomeUnknownError: the primary did not answer in time; the change may have been
 *   applied before its deadline, never after.
 *
 * Why a deadline: a command that timed out on our side may still sit in a frozen server's socket
 * buffer (SIGSTOP, a stalled VM) and run when it resumes; disabling the client's queue and retries
 * cannot recall bytes already sent. So the script reads Redis's clock and refuses to run past
 * `deadline = TIME + timeout`, taken from a TIME call just before: Redis's clock has passed the
 * deadline by the time our command timeout fires, so a late delivery is a no-op.
 *
 * Why an undo: WAIT does not roll back. When fewer replicas than wanted confirm, the change is
 * reverted on the primary (only if it is still ours: the stored value carries this write's id),
 * every replica is told to resynchronise, and the revert itself must be confirmed before we say
 * "not applied".
 */
export interface KeyWrite {
  key: string;
  /** `set`: store `value` until `expireAtSeconds`; `del`: remove the key. */
  kind: 'set' | 'del';
  value: string;
  expireAtSeconds: number;
  channel: string;
  /** Published with the change, in the same script: the channel carries changes in commit order. */
  message: string;
  /** Published after an undo: makes every replica resynchronise. */
  resyncMessage: string;
  /** Replicas that must confirm; undefined: 1 if the primary has any connected, else 0. */
  minReplicasAcked: number | undefined;
  timeoutMs: number;
}

export interface KeyWriteResult {
  /** For `del`: whether a key was removed. */
  changed: boolean;
}

// Puts a key back as it was before this write: its previous value (false: none) with its expiry (ms on
// Redis's clock; -1: none). Both scripts below undo with it: APPLY when its PUBLISH is refused, UNDO
// when the replicas did not confirm.
const RESTORE = `
local function restore(key, previous, previousAt)
  if not previous then
    redis.call('DEL', key)
  elseif previousAt < 0 then
    redis.call('SET', key, previous)
  else
    redis.call('SET', key, previous, 'PXAT', previousAt)
  end
end
`;

// KEYS[1] the key. ARGV: deadline (ms, Redis clock), wanted replicas (-1: 1 if any connected),
// kind, value, expire-at (s), channel, message. Checks come before the first write, so a refusal
// changes nothing; the one command that can fail after it, PUBLISH (an ACL may allow SUBSCRIBE and
// not PUBLISH), is caught and the write undone within the script before the error is returned, so an
// error reply still means nothing changed. Redis 6.2+ (EXAT, PXAT); PTTL rather than 7.0's
// PEXPIRETIME for that reason.
const APPLY = `${RESTORE}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now >= tonumber(ARGV[1]) then return {'late'} end
local connected = tonumber(string.match(redis.call('INFO', 'replication'), 'connected_slaves:(%d+)')) or 0
local wanted = tonumber(ARGV[2])
if wanted < 0 then wanted = math.min(1, connected) end
if connected < wanted then return {'replicas', connected, wanted} end
local previous = redis.call('GET', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
local previousAt = -1
if ttl >= 0 then previousAt = now + ttl end
local changed = 1
if ARGV[3] == 'set' then
  redis.call('SET', KEYS[1], ARGV[4], 'EXAT', ARGV[5])
else
  changed = redis.call('DEL', KEYS[1])
end
local published = redis.pcall('PUBLISH', ARGV[6], ARGV[7])
if type(published) == 'table' and published.err then
  restore(KEYS[1], previous, previousAt)
  return redis.error_reply(published.err)
end
return {'applied', wanted, changed, previous or '', previousAt}
`;

// KEYS[1] the key. ARGV: deadline, kind applied, value applied, previous value ('' none), previous
// expiry (ms; -1 none), channel, resync message. Reverts only what is still this write's doing.
const UNDO = `${RESTORE}
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) >= tonumber(ARGV[1]) then return 'late' end
local current = redis.call('GET', KEYS[1])
if ARGV[2] == 'set' and current ~= ARGV[3] then return 'superseded' end
if ARGV[2] == 'del' and current then return 'superseded' end
restore(KEYS[1], ARGV[4] ~= '' and ARGV[4], tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 'undone'
`;

type ApplyReply = ['late'] | ['replicas', number, number] | ['applied', number, number, string, number];

export async function writeKey(primary: Redis | undefined, write: KeyWrite): Promise<KeyWriteResult> {
  const connection = await PrimaryConnection.open(primary);
  const deadline = await connection.deadline(write.timeoutMs, 'before');
  const reply = (await connection.send('write', 'before', (redis) =>
    redis.eval(
      APPLY,
      1,
      write.key,
      deadline,
      write.minReplicasAcked ?? -1,
      write.kind,
      write.value,
      write.expireAtSeconds,
      write.channel,
      write.message,
    ),
  )) as ApplyReply;
  switch (reply[0]) {
    case 'late':
      throw new RevocationStoreUnavailableError('revocation: redis took longer than the timeout; the change was not stored');
    case 'replicas':
      throw new RevocationStoreUnavailableError(
        `revocation: the redis primary has ${reply[1]} connected replica(s), ${reply[2]} must confirm (minReplicasAcked); the change was not stored`,
      );
    case 'applied':
      break;
  }
  const [, wanted, changed, previous, previousAt] = reply;
  if (wanted === 0 || (await connection.acked(wanted, write.timeoutMs)) >= wanted) return { changed: changed === 1 };
  await undo(connection, write, wanted, previous, previousAt);
  throw new RevocationStoreUnavailableError(
    `revocation: fewer than ${wanted} redis replica(s) confirmed the change in time; it was rolled back and not stored`,
  );
}

async function undo(connection: PrimaryConnection, write: KeyWrite, wanted: number, previous: string, previousAt: number): Promise<void> {
  const deadline = await connection.deadline(write.timeoutMs, 'after');
  const outcome = await connection.send('rollback', 'after', (redis) =>
    redis.eval(UNDO, 1, write.key, deadline, write.kind, write.value, previous, previousAt, write.channel, write.resyncMessage),
  );
  // 'superseded': a later write replaced ours on the primary; ours is gone either way.
  if (outcome === 'late') {
    throw new RevocationOutcomeUnknownError(
      'revocation: replicas did not confirm the change and the rollback came too late; it is stored on the primary',
    );
  }
  if ((await connection.acked(wanted, write.timeoutMs)) < wanted) {
    throw new RevocationOutcomeUnknownError(
      `revocation: replicas did not confirm the change; it was rolled back on the primary, but the rollback is not confirmed by ${wanted} replica(s) either`,
    );
  }
}

/**
 * One write's commands, all on one connection to one primary: the deadline is on that primary's clock,
 * and WAIT counts replicas that have what *this connection* wrote (on a reconnected one, which wrote
 * nothing, it would confirm at once). So every step checks the socket is still the one it started on.
 * Stage `before`: TIME and the script itself; a lost connection, a failed TIME or the script refused
 * by Redis leave nothing applied (503), a script that went unanswered leaves the outcome unknown
 * (504). Stage `after` (WAIT, the rollback): any failure leaves the outcome unknown (504).
 */
class PrimaryConnection {
  private constructor(
    private readonly redis: Redis,
    private readonly stream: Redis['stream'],
  ) {}

  static async open(primary: Redis | undefined): Promise<PrimaryConnection> {
    // A cluster client creates node connections lazily: one nobody has used yet connects now.
    if (primary?.status === 'wait') await primary.connect().catch(() => undefined);
    if (primary === undefined || primary.status !== 'ready') {
      throw new RevocationStoreUnavailableError(
        'revocation: redis write failed (no connection to the primary); the change was not stored, retry when redis is reachable',
      );
    }
    return new PrimaryConnection(primary, primary.stream);
  }

  /**
   * A deadline on Redis's own clock: TIME now, plus our timeout. TIME ran before we read its answer,
   * so once our timeout has elapsed from here Redis's clock is past the deadline (clocks tick at the
   * same rate; a Redis clock stepped backwards would break this, and NTP slews rather than steps).
   */
  async deadline(timeoutMs: number, stage: 'before' | 'after'): Promise<number> {
    const [seconds, micros] = (await this.send('time', stage, (redis) => redis.time())) as [string | number, string | number];
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + timeoutMs;
  }

  /** Replicas that have everything this connection wrote, waiting at most half the command timeout. */
  async acked(wanted: number, timeoutMs: number): Promise<number> {
    return (await this.send('replication wait', 'after', (redis) => redis.wait(wanted, Math.max(1, Math.floor(timeoutMs / 2))))) as number;
  }

  async send(what: string, stage: 'before' | 'after', run: (redis: Redis) => Promise<unknown>): Promise<unknown> {
    if (this.redis.status !== 'ready' || this.redis.stream !== this.stream) {
      if (stage === 'before') {
        throw new RevocationStoreUnavailableError(
          'revocation: redis write failed (the connection to the primary was lost); the change was not stored, retry when redis is reachable',
        );
      }
      throw new RevocationOutcomeUnknownError(
        `revocation: the connection to the redis primary was lost before the ${what}; the change may have been stored, ` +
          'but it cannot take effect any later: list the revocations to see which',
      );
    }
    try {
      return await run(this.redis);
    } catch (err) {
      // Before the change: TIME failing sent nothing, and an error reply means the script stopped before its first write.
      if (stage === 'before' && (what === 'time' || err instanceof ioredis().ReplyError)) {
        throw new RevocationStoreUnavailableError(
          `revocation: redis write failed (${errorMessage(err)}); the change was not stored, retry when redis is reachable`,
        );
      }
      throw new RevocationOutcomeUnknownError(
        `revocation: redis did not answer the ${what} (${errorMessage(err)}); the change may have been stored, ` +
          'but it cannot take effect any later: list the revocations to see which',
      );
    }
  }
}
