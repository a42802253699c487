/**
 * The keys of one slot sent from a master that holds them to the slot's new owner, in `MIGRATE ... KEYS` batches (the
 * classic protocol's data part; move-slots.ts does the marks around it). A key too big for one MIGRATE to send without
 * holding the old owner (and its clients) for long is rebuilt piece by piece instead (move-big-key.ts).
 */
import type Redis from 'ioredis';
import { clusterAuth } from '../redis/connection';
import { frequentHeartbeat, log } from '../runtime/context';
import { asking, moveInPieces } from './move-big-key';

/** Keys per MIGRATE batch. */
export const BATCH_KEYS = 500;
/**
 * A key whose MEMORY USAGE is above this is rebuilt piece by piece in the new owner (moveInPieces), or, where that
 * cannot be, goes in a MIGRATE of its own with a longer timeout.
 */
export const BIG_KEY_BYTES = 8 * 1024 * 1024;
const MIGRATE_TIMEOUT_MS = 10_000;
const BIG_MIGRATE_TIMEOUT_MS = 120_000;

/**
 * One batch of a slot's keys and which of them are big, in one round trip: the listing and the sizes are taken
 * together on the server. Asked key by key instead (two commands a key), the sizes cost the worker more CPU than the
 * whole rest of the move, and the worker's CPU is what a classic move waits on. Read-only; a script with no declared
 * keys, so that a slot's listing never meets a key deleted since (the cluster checks each key as it is sized).
 * Returns {keys, indexes (1-based) of the big ones}.
 */
const KEYS_AND_BIG_ONES = `
local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[1], ARGV[2])
local big = {}
for i, key in ipairs(keys) do
  local bytes = redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '1')
  if bytes and bytes > tonumber(ARGV[3]) then big[#big + 1] = i end
end
return {keys, big}`;

export interface SlotHolder {
  address: string;
  id: string;
  client: Redis;
  admin: { host: string; port: number };
  /** Refused the listing script (ACL rules without scripting, say): its keys are sized one command each. */
  noScripts?: boolean;
}

export interface SlotTarget {
  address: string;
  client: Redis;
  /** The address the orchestrator reaches it at. */
  admin: { host: string; port: number };
  /** The address the other nodes reach it at (MIGRATE's target). */
  host: string;
  port: number;
}

export interface DrainCounts {
  bigKeys: number;
  bigKeysInPieces?: number;
  /** Keys moved in this call before this slot (for the heartbeat). */
  keys: number;
}

/** How a node refuses the listing script: ACL rules without scripting, EVAL renamed away, a command not for scripts. */
const SCRIPT_REFUSED = /^NOPERM|unknown command|not allowed from script/i;

/** The next batch of `slot`'s keys on `holder`, with the big ones apart. */
async function nextBatch(holder: SlotHolder, slot: number): Promise<{ small: Buffer[]; big: Buffer[] }> {
  if (!holder.noScripts) {
    try {
      // ASKING first: a holder that does not own the slot (keys left on an importing node) lists them all the same.
      const [keys, big] = (await asking(holder.client)(
        'EVAL',
        KEYS_AND_BIG_ONES,
        '0',
        ...[slot, BATCH_KEYS, BIG_KEY_BYTES].map(String),
      )) as [Buffer[], number[]];
      const bigOnes = new Set(big.map((i) => Number(i) - 1));
      return { small: keys.filter((_, i) => !bigOnes.has(i)), big: keys.filter((_, i) => bigOnes.has(i)) };
    } catch (err) {
      // Only a refusal of the script falls back; a lost connection or a busy node is the attempt's failure.
      if (!SCRIPT_REFUSED.test((err as Error).message ?? '')) throw err;
      holder.noScripts = true;
      log.warn('a master refused the slot-listing script: its keys are sized one command each', {
        node: holder.address,
        error: (err as Error).message,
      });
    }
  }
  const keys = (await holder.client.callBuffer('CLUSTER', 'GETKEYSINSLOT', slot, BATCH_KEYS)) as Buffer[];
  const sizing = holder.client.pipeline();
  for (const key of keys) sizing.call('ASKING').call('MEMORY', 'USAGE', key, 'SAMPLES', '1');
  const sizes = ((await sizing.exec()) ?? []).filter((_, i) => i % 2 === 1).map(([, size]) => Number(size ?? 0));
  return {
    small: keys.filter((_, i) => (sizes[i] ?? 0) <= BIG_KEY_BYTES),
    big: keys.filter((_, i) => (sizes[i] ?? 0) > BIG_KEY_BYTES),
  };
}

/** Sends every key `holder` has in `slot` to `to`; returns how many. */
export async function drainSlot(
  holder: SlotHolder,
  slot: number,
  to: SlotTarget,
  counts: DrainCounts,
  pace: (keys: number) => Promise<void>,
  ownerId: string,
): Promise<number> {
  let moved = 0;
  const auth = clusterAuth();
  const login: string[] = auth.password !== undefined ? ['AUTH2', auth.username ?? 'default', auth.password] : [];
  for (;;) {
    const { small, big } = await nextBatch(holder, slot);
    const listed = small.length + big.length;
    if (listed === 0) return moved;
    await pace(listed);
    // ASKING first: a holder that does not own the slot (keys left on an importing node) sends them all the same.
    const send = async (batch: Buffer[], timeout: number) => {
      const args = [to.host, String(to.port), '', '0', String(timeout), 'REPLACE', ...login, 'KEYS', ...batch];
      const answer = await asking(holder.client)('MIGRATE', ...args).catch((error: Error) => {
        throw new Error(`MIGRATE of slot ${slot} from ${holder.address} to ${to.address}: ${error.message}`);
      });
      if (String(answer) !== 'NOKEY') moved += batch.length;
    };
    if (small.length > 0) await send(small, MIGRATE_TIMEOUT_MS);
    for (const key of big) {
      // Only the owner serves its keys to our plain reads; leftovers on an importing node go by MIGRATE.
      if (holder.id === ownerId && (await moveInPieces(holder, to, key, slot))) {
        counts.bigKeysInPieces = (counts.bigKeysInPieces ?? 0) + 1;
        moved++;
      } else await send([key], BIG_MIGRATE_TIMEOUT_MS);
      counts.bigKeys++;
      frequentHeartbeat({ slot, bigKey: key.length });
    }
    frequentHeartbeat({ slot, keysMoved: counts.keys + moved });
    // Fewer than asked: that was all of them (new keys of a migrating slot are made on the new owner, by ASK).
    if (listed < BATCH_KEYS) return moved;
  }
}
