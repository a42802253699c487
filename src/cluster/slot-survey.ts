/**
 * What a classic move reads of its slots before it starts, in a few round trips for all of them: which masters besides
 * the owner hold keys there, and the order to take the slots in. The move ends when its slowest slot ends, so the
 * slots that take longest start first: a slot with a big key (rebuilt piece by piece, seconds for millions of fields),
 * then the slots with the most keys. Taken in slot order, a big key near the end of the range started last and the
 * whole move waited for it.
 */
import type Redis from 'ioredis';
import { log } from '../runtime/context';
import { BIG_KEY_BYTES } from './drain-slot';

export interface SurveyedMaster {
  id: string;
  address: string;
  client: Redis;
  /** Refused our read-only scripts (ACL rules without scripting, say). */
  noScripts?: boolean;
}

export interface SlotSurvey<M> {
  /**
   * The slots in the order to move them, in two rounds: slots left half-moved and slots with a big key first, the
   * rest when those are done. A big key rebuilt while many slots move waits behind their MIGRATEs in the old owner for
   * each piece (three times as long, measured); alone it takes its own time, and the slots after it theirs.
   */
  rounds: [number[], number[]];
  /** Per slot, the masters other than the owner and the new owner that hold keys in it. */
  strays: Map<number, M[]>;
}

/** Keys sized by one script call at most: it holds the owner for a few milliseconds. */
const KEYS_PER_CALL = 5000;

/** Of the slots given as (slot, key count) pairs in ARGV after the size limit, those holding a key over the limit. */
const SLOTS_WITH_BIG_KEYS = `
local limit = tonumber(ARGV[1])
local found = {}
for i = 2, #ARGV, 2 do
  local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', ARGV[i], ARGV[i + 1])
  for _, key in ipairs(keys) do
    local bytes = redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '1')
    if bytes and bytes > limit then
      found[#found + 1] = tonumber(ARGV[i])
      break
    end
  end
end
return found`;

async function countKeys(client: Redis, slots: number[]): Promise<number[]> {
  const counting = client.pipeline();
  for (const slot of slots) counting.call('CLUSTER', 'COUNTKEYSINSLOT', slot);
  return ((await counting.exec()) ?? []).map(([error, count]) => {
    if (error) throw error;
    return Number(count);
  });
}

/** The slots (of those counted) that hold a big key; none where the owner refuses scripts. */
async function slotsWithBigKeys(owner: SurveyedMaster, slots: number[], counts: number[]): Promise<Set<number>> {
  const calls: string[][] = [];
  let call: string[] = [];
  let keys = 0;
  slots.forEach((slot, i) => {
    const count = counts[i]!;
    // A slot with more keys than one call sizes is not looked into: it starts early for its count anyway.
    if (count === 0 || count > KEYS_PER_CALL) return;
    if (keys + count > KEYS_PER_CALL && call.length > 0) {
      calls.push(call);
      call = [];
      keys = 0;
    }
    call.push(String(slot), String(count));
    keys += count;
  });
  if (call.length > 0) calls.push(call);
  if (owner.noScripts || calls.length === 0) return new Set();
  const sizing = owner.client.pipeline();
  for (const args of calls) sizing.eval(SLOTS_WITH_BIG_KEYS, 0, String(BIG_KEY_BYTES), ...args);
  const found = new Set<number>();
  for (const [error, slotsFound] of (await sizing.exec()) ?? []) {
    if (error) {
      owner.noScripts = true;
      log.warn('a master refused the slot-sizing script: its slots are moved in order of key count', {
        node: owner.address,
        error: error.message,
      });
      return new Set();
    }
    for (const slot of slotsFound as number[]) found.add(Number(slot));
  }
  return found;
}

/**
 * Surveys `slots` of a move from `owner` to the master `toId`: slots left half-moved (`open`) first (once settled,
 * they no longer make the owner refuse an atomic job in the next call) and those with a big key, then the rest by key
 * count.
 */
export async function surveySlots<M extends SurveyedMaster>(
  all: M[],
  owner: M | undefined,
  toId: string,
  slots: number[],
  open: Set<number>,
): Promise<SlotSurvey<M>> {
  const strays = new Map<number, M[]>();
  const counted = new Map<number, number>();
  const big = new Set<number>();
  await Promise.all(
    all
      .filter((m) => m.id !== toId)
      .map(async (m) => {
        const counts = await countKeys(m.client, slots);
        if (m === owner) {
          slots.forEach((slot, i) => counted.set(slot, counts[i]!));
          for (const slot of await slotsWithBigKeys(m, slots, counts)) big.add(slot);
          return;
        }
        // A master that neither owns nor imports a slot gets none of its keys from clients: only what it held before
        // the move (keys left by hand, say). Half-moved slots are asked again when they are moved.
        slots.forEach((slot, i) => {
          if (counts[i]! > 0) strays.set(slot, [...(strays.get(slot) ?? []), m]);
        });
      }),
  );
  const byKeys = (a: number, b: number) => (counted.get(b) ?? 0) - (counted.get(a) ?? 0);
  const first = slots.filter((slot) => open.has(slot) || big.has(slot));
  const rest = slots.filter((slot) => !open.has(slot) && !big.has(slot)).sort(byKeys);
  return { rounds: [first, rest], strays };
}
