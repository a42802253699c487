/**
 * The moveSlots step: every slot the spec gives to another master than the one that owns it is moved there with the
 * classic protocol, one slot at a time, while clients keep working (they follow ASK and MOVED redirects):
 * `SETSLOT IMPORTING` on the new owner, `SETSLOT MIGRATING` on the old one, the keys sent in batches by
 * `MIGRATE ... KEYS`, then `SETSLOT NODE` on the new owner first and on every other master. A slot anyone left
 * half-moved (a crash of ours, or `redis-cli --cluster reshard`) is finished toward its spec master the same way.
 * Every step of it reads the nodes first, so a retry after a crash picks up the slot it was in.
 */
import type Redis from 'ioredis';
import { type ClusterSpec, type NodeSpec, adminAddress, masters, countSlots } from '../model';
import { clusterAuth, connectNode } from '../redis/connection';
import { splitAddress } from '../redis/slot-map';
import { heartbeat, log } from '../runtime/context';
import { highestCurrentEpoch, recordEpochChange } from './epochs';
import { readLiveCluster } from './live';
import { asking, moveInPieces } from './move-big-key';
import { canMoveAtomically, moveAtomically } from './atomic-moves';
import { untilEverySees, untilItKnowsTheCluster } from './slot-views';
import { type SlotMove, type SlotOwner, decideSlotMoves } from './reshard';

/** Slots moved at the same time. */
const SLOTS_AT_ONCE = 32;
/** Keys per MIGRATE batch. */
const BATCH_KEYS = 500;
/**
 * A key whose MEMORY USAGE is above this is rebuilt piece by piece in the new owner (moveInPieces), or, where that
 * cannot be, goes in a MIGRATE of its own with a longer timeout.
 */
const BIG_KEY_BYTES = 8 * 1024 * 1024;
const MIGRATE_TIMEOUT_MS = 10_000;
const BIG_MIGRATE_TIMEOUT_MS = 120_000;

export interface SlotMoveSummary {
  from: string;
  to: string;
  slots: number;
  keys: number;
  /** Moved by the servers in one job (CLUSTER MIGRATESLOTS, atomic-moves.ts). */
  atomic?: { job: string; seconds: number; resumed?: boolean };
}

export interface SlotMovesResult {
  moves: SlotMoveSummary[];
  slots: number;
  keys: number;
  /** Keys over the big-key size: rebuilt piece by piece, or each in a MIGRATE of its own. */
  bigKeys: number;
  /** Of those, the keys rebuilt piece by piece. */
  bigKeysInPieces?: number;
  /** Slots still to move when the call's time budget ran out (0: the cluster's slots are where the spec says). */
  slotsLeft: number;
  /** Moves the nodes could have made atomically that went by the classic protocol, and why. */
  fallbacks?: string[];
}

export interface SlotMoveOptions {
  /** Start no new slot after this long (the slots in flight finish): the workflow pauses and throttles between calls. */
  budgetMs?: number;
  /** At most this many keys per second; undefined: as fast as the nodes go. */
  keysPerSecond?: number;
}

/** Paces MIGRATE batches to `keysPerSecond` over the whole call, whichever slot they are in. */
function pacer(keysPerSecond: number | undefined): (keys: number) => Promise<void> {
  const started = Date.now();
  let sent = 0;
  return async (keys) => {
    if (!keysPerSecond) return;
    sent += keys;
    const due = started + (sent / keysPerSecond) * 1000;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  };
}

interface Master {
  address: string;
  id: string;
  client: Redis;
  /** The address the other nodes reach it at (MIGRATE's target). */
  host: string;
  port: number;
  /** The address the orchestrator reaches it at. */
  admin: { host: string; port: number };
}

const reply = (value: unknown) => String(value);

export async function moveSlots(spec: ClusterSpec, options: SlotMoveOptions = {}): Promise<SlotMovesResult> {
  const started = Date.now();
  const live = await readLiveCluster(spec);
  const moves = decideSlotMoves(spec, live);
  const result: SlotMovesResult = { moves: [], slots: 0, keys: 0, bigKeys: 0, slotsLeft: 0 };
  if (moves.length === 0) return result;
  const outOfTime = () => options.budgetMs !== undefined && Date.now() - started > options.budgetMs;
  const pace = pacer(options.keysPerSecond);

  // Every master of the cluster, spec masters and owners the spec no longer names: keys of a slot may be on any.
  const all = new Map<string, Master>();
  const open = async (address: string, id: string, host: string, port: number, admin = { host, port }) => {
    if (!all.has(id)) all.set(id, { address, id, host, port, admin, client: await connectNode(admin) });
  };
  try {
    for (const node of masters(spec)) {
      const id = live.get(node.id)?.view?.myself.id;
      if (id) await open(`${node.host}:${node.port}`, id, node.host, node.port, adminAddress(node));
    }
    for (const { from } of moves) {
      const [host, port] = splitAddress(from.address);
      await open(from.address, from.id, host, port);
    }
    const total = moves.reduce((sum, m) => sum + countSlots(m.ranges), 0);
    for (const move of moves) {
      if (outOfTime()) {
        result.slotsLeft += countSlots(move.ranges);
        continue;
      }
      const to = masterOf(all, move.to, live.get(move.to.id)?.view?.myself.id);
      await untilItKnowsTheCluster(to, move.from, move.ranges[0]![0]);
      const summary: SlotMoveSummary = { from: move.from.address, to: move.to.id, slots: 0, keys: 0 };
      result.moves.push(summary);
      if (await movedAtomically(move, all.get(move.from.id), to, all, summary, result, options.keysPerSecond)) continue;
      // Slots left half-moved first: once settled, they no longer make the owner refuse a job in the next call.
      const open = new Set(move.open);
      const slots = [
        ...move.open,
        ...move.ranges
          .flatMap(([start, end]) => Array.from({ length: end - start + 1 }, (_, i) => start + i))
          .filter((slot) => !open.has(slot)),
      ];
      // A few slots at once: each waits on round trips more than on the nodes.
      const next = () => (outOfTime() ? undefined : slots.shift());
      await Promise.all(
        Array.from({ length: SLOTS_AT_ONCE }, async () => {
          for (let slot = next(); slot !== undefined; slot = next()) {
            const moved = await bringSlot(slot, to, move.from, [...all.values()], result, pace);
            summary.slots++;
            summary.keys += moved;
            result.slots++;
            result.keys += moved;
            heartbeat({ slot, slotsDone: result.slots, slotsTotal: total, keysMoved: result.keys });
          }
        }),
      );
      result.slotsLeft += slots.length;
      log.info('slots moved', { ...summary });
    }
  } finally {
    for (const master of all.values()) master.client.disconnect();
  }
  // SETSLOT NODE bumps the new owner's config epoch: a change verify and the drift check must know of.
  await recordEpochChange(spec, `slot moves (${result.slots} slots)`, await highestCurrentEpoch(spec));
  return result;
}

/**
 * Moves the ranges in one server job where both nodes can (atomic-moves.ts). True when the job moved them; otherwise
 * the classic protocol moves them, and result.fallbacks says why where the nodes could have.
 */
async function movedAtomically(
  move: SlotMove,
  owner: Master | undefined,
  to: Master,
  all: Map<string, Master>,
  summary: SlotMoveSummary,
  result: SlotMovesResult,
  keysPerSecond: number | undefined,
): Promise<boolean> {
  if (!owner || owner.id === to.id || !(await canMoveAtomically(owner, to))) return false;
  const pair = `${move.from.address} -> ${move.to.id}`;
  if (keysPerSecond) {
    // A server's job runs at the servers' pace; the classic protocol paces its keys.
    (result.fallbacks ??= []).push(
      `${pair}: throttled to ${keysPerSecond} keys/s, which only the classic protocol keeps to`,
    );
    return false;
  }
  const outcome = await moveAtomically(owner, to, move.ranges);
  if (!outcome.done) {
    (result.fallbacks ??= []).push(`${pair}: ${outcome.fallback}`);
    log.warn('an atomic slot move was refused or failed: the classic protocol moves those slots', {
      from: move.from.address,
      to: move.to.id,
      why: outcome.fallback,
    });
    return false;
  }
  const slots = countSlots(move.ranges);
  Object.assign(summary, { slots, keys: outcome.keys });
  summary.atomic = { job: outcome.job!, seconds: outcome.seconds, ...(outcome.resumed ? { resumed: true } : {}) };
  result.slots += slots;
  result.keys += outcome.keys;
  // Every master sees the new owner before the next call reads the cluster (gossip spreads it).
  await untilEverySees([...all.values()], to, move.ranges[0]![0]);
  log.info('slots moved atomically', { ...summary });
  return true;
}

function masterOf(all: Map<string, Master>, node: NodeSpec, id: string | undefined): Master {
  const master = id ? all.get(id) : undefined;
  if (!master) throw new Error(`${node.id} (${node.host}:${node.port}) is not a member of the cluster yet`);
  return master;
}

/** Brings `slot` to `to`: marks it moving, sends every key any other master holds in it, then settles it everywhere. */
async function bringSlot(
  slot: number,
  to: Master,
  owner: SlotOwner,
  all: Master[],
  result: SlotMovesResult,
  pace: (keys: number) => Promise<void>,
): Promise<number> {
  const from = all.find((m) => m.id === owner.id);
  if (from && from.id !== to.id) {
    await to.client.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
    await from.client.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
  } else {
    // Settled back to its owner: a migrating owner would answer the keys sent back to it with ASK.
    await to.client.call('CLUSTER', 'SETSLOT', slot, 'STABLE');
  }
  // Any master may hold keys of the slot (a half-moved one leaves some on the importing side): asked all at once.
  const counts = await Promise.all(
    all.map(async (m) => (m.id === to.id ? 0 : Number(await m.client.call('CLUSTER', 'COUNTKEYSINSLOT', slot)))),
  );
  let moved = 0;
  for (const [i, holder] of all.entries()) {
    if (counts[i] === 0) continue;
    // Keys on a master that neither owns the slot nor imports it: marked importing, it serves them after ASKING.
    const owns = holder.id === (from?.id ?? to.id);
    if (!owns) await holder.client.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from?.id ?? to.id);
    moved += await drainSlot(holder, slot, to, result, pace, from?.id ?? to.id);
  }
  // The new owner first: from then on the others' redirects lead to it. NODE clears the old owner's migrating mark
  // once it holds no keys; STABLE clears an importing mark elsewhere.
  await to.client.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
  await Promise.all(
    all
      .filter((other) => other.id !== to.id)
      .map(async (other) => {
        try {
          await other.client.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
          await other.client.call('CLUSTER', 'SETSLOT', slot, 'STABLE');
        } catch (err) {
          // A master that gave away its last slot becomes a replica of the new owner (cluster-allow-replica-migration)
          // and follows its view: nothing of it is left to settle.
          if (!/only with masters/i.test((err as Error).message)) throw err;
        }
      }),
  );
  return moved;
}

/** Sends every key `holder` has in `slot` to `to`; returns how many. */
async function drainSlot(
  holder: Master,
  slot: number,
  to: Master,
  result: SlotMovesResult,
  pace: (keys: number) => Promise<void>,
  ownerId: string,
): Promise<number> {
  let moved = 0;
  const auth = clusterAuth();
  const login: string[] = auth.password !== undefined ? ['AUTH2', auth.username ?? 'default', auth.password] : [];
  for (;;) {
    const keys = (await holder.client.callBuffer('CLUSTER', 'GETKEYSINSLOT', slot, BATCH_KEYS)) as Buffer[];
    if (keys.length === 0) return moved;
    await pace(keys.length);
    // ASKING before each: a holder that does not own the slot (keys left on an importing node) answers all the same.
    const sizing = holder.client.pipeline();
    for (const key of keys) sizing.call('ASKING').call('MEMORY', 'USAGE', key, 'SAMPLES', '1');
    const sizes = ((await sizing.exec()) ?? []).filter((_, i) => i % 2 === 1).map(([, size]) => Number(size ?? 0));
    const big = keys.filter((_, i) => (sizes[i] ?? 0) > BIG_KEY_BYTES);
    const small = keys.filter((_, i) => (sizes[i] ?? 0) <= BIG_KEY_BYTES);
    // ASKING first: a holder that does not own the slot (keys left on an importing node) sends them all the same.
    const send = async (batch: Buffer[], timeout: number) => {
      const args = [to.host, String(to.port), '', '0', String(timeout), 'REPLACE', ...login, 'KEYS', ...batch];
      const answer = await asking(holder.client)('MIGRATE', ...args).catch((error: Error) => {
        throw new Error(`MIGRATE of slot ${slot} from ${holder.address} to ${to.address}: ${error.message}`);
      });
      if (reply(answer) !== 'NOKEY') moved += batch.length;
    };
    if (small.length > 0) await send(small, MIGRATE_TIMEOUT_MS);
    for (const key of big) {
      // Only the owner serves its keys to our plain reads; leftovers on an importing node go by MIGRATE.
      if (holder.id === ownerId && (await moveInPieces(holder, to, key, slot))) {
        result.bigKeysInPieces = (result.bigKeysInPieces ?? 0) + 1;
        moved++;
      } else await send([key], BIG_MIGRATE_TIMEOUT_MS);
      result.bigKeys++;
      heartbeat({ slot, bigKey: key.length });
    }
    heartbeat({ slot, keysMoved: result.keys + moved });
    // Fewer than asked: that was all of them (new keys of a migrating slot are made on the new owner, by ASK).
    if (keys.length < BATCH_KEYS) return moved;
  }
}
