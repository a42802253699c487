/**
 * The moveSlots step: every slot the spec gives to another master than the one that owns it is moved there, in one
 * server job where both nodes move slots atomically (atomic-moves.ts), otherwise with the classic protocol, many slots
 * at once, while clients keep working (they follow ASK and MOVED redirects). Per slot: `SETSLOT IMPORTING` on the new
 * owner, `SETSLOT MIGRATING` on the old one, the keys sent in batches by `MIGRATE ... KEYS` (drain-slot.ts), then
 * `SETSLOT NODE` on the new owner first and on every other master. A slot anyone left half-moved (a crash of ours, or
 * `redis-cli --cluster reshard`) is finished toward its spec master the same way. Every step of it reads the nodes
 * first, so a retry after a crash picks up the slot it was in.
 */
import type Redis from 'ioredis';
import { type ClusterSpec, type NodeSpec, adminAddress, masters, countSlots } from '../model';
import type { AtomicJobProgress } from '../model/progress';
import { connectNode } from '../redis/connection';
import { splitAddress } from '../redis/slot-map';
import { frequentHeartbeat, log } from '../runtime/context';
import { highestCurrentEpoch, recordEpochChange } from './epochs';
import { readLiveCluster } from './live';
import { drainSlot } from './drain-slot';
import { surveySlots } from './slot-survey';
import { canMoveAtomically, jobRunning, moveAtomically } from './atomic-moves';
import { untilEverySees, untilItKnowsTheCluster } from './slot-views';
import { type SlotMove, type SlotOwner, decideSlotMoves } from './reshard';

/** Slots moved at the same time by the classic protocol. */
const SLOTS_AT_ONCE = 64;

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
  /** A server's job still running when the call's time ran out: its slots are among slotsLeft. */
  atomicRunning?: AtomicJobProgress;
}

export interface SlotMoveOptions {
  /** Start no new slot after this long (the slots in flight finish): the workflow pauses and throttles between calls. */
  budgetMs?: number;
  /** At most this many keys per second; undefined: as fast as the nodes go. */
  keysPerSecond?: number;
  /** How long to wait for a server's job before returning with its state; default: the rest of the budget. */
  atomicWaitMs?: number;
  /** The server's job the last call left running: only for this call's summary in the Web UI. */
  following?: AtomicJobProgress;
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
  /** Refused our read-only scripts: its keys are sized one command each. */
  noScripts?: boolean;
}

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
      const waitMs =
        options.atomicWaitMs ??
        (options.budgetMs !== undefined ? options.budgetMs - (Date.now() - started) : undefined);
      const atomic = {
        keysPerSecond: options.keysPerSecond,
        waitMs: waitMs === undefined ? undefined : Math.max(0, waitMs),
      };
      if (await movedAtomically(move, all.get(move.from.id), to, all, summary, result, atomic)) continue;
      await movedClassically(move, to, [...all.values()], summary, result, { pace, outOfTime, total });
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
 * Moves the slots of `move` by the classic protocol, many at once (each waits on round trips more than on the nodes:
 * 32 -> 64 at once took 1,024 slots from 1.5 to 1.0 s here), in the rounds the survey gives (slot-survey.ts). Stops
 * taking slots when `outOfTime`; the slots it did not take are counted in result.slotsLeft.
 */
async function movedClassically(
  move: SlotMove,
  to: Master,
  all: Master[],
  summary: SlotMoveSummary,
  result: SlotMovesResult,
  { pace, outOfTime, total }: { pace: (keys: number) => Promise<void>; outOfTime: () => boolean; total: number },
): Promise<void> {
  const open = new Set(move.open);
  const inRanges = move.ranges.flatMap(([start, end]) => Array.from({ length: end - start + 1 }, (_, i) => start + i));
  const owner = all.find((m) => m.id === move.from.id);
  const survey = await surveySlots(all, owner, to.id, [...new Set([...move.open, ...inRanges])], open);
  for (const slots of survey.rounds) {
    const next = () => (outOfTime() ? undefined : slots.shift());
    await Promise.all(
      Array.from({ length: SLOTS_AT_ONCE }, async () => {
        for (let slot = next(); slot !== undefined; slot = next()) {
          const where = { open: open.has(slot), strays: survey.strays.get(slot) ?? [] };
          const moved = await bringSlot(slot, to, move.from, all, where, result, pace);
          summary.slots++;
          summary.keys += moved;
          result.slots++;
          result.keys += moved;
          frequentHeartbeat({ slot, slotsDone: result.slots, slotsTotal: total, keysMoved: result.keys });
        }
      }),
    );
    result.slotsLeft += slots.length;
  }
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
  { keysPerSecond, waitMs }: { keysPerSecond?: number; waitMs?: number },
): Promise<boolean> {
  if (!owner || owner.id === to.id || !(await canMoveAtomically(owner, to))) return false;
  const pair = `${move.from.address} -> ${move.to.id}`;
  // A job already running is waited for, throttled or not: its slots cannot go by the classic protocol meanwhile.
  if (keysPerSecond && !(await jobRunning(owner, move.ranges, to.id))) {
    // A server's job runs at the servers' pace; the classic protocol paces its keys.
    (result.fallbacks ??= []).push(
      `${pair}: throttled to ${keysPerSecond} keys/s, which only the classic protocol keeps to`,
    );
    return false;
  }
  const outcome = await moveAtomically(owner, to, move.ranges, waitMs);
  if (outcome.running) {
    // Not a fallback: the job goes on in the servers, and the next call finds it and waits on.
    const slots = countSlots(move.ranges);
    result.slotsLeft += slots;
    result.atomicRunning = { job: outcome.job!, from: move.from.address, to: move.to.id, slots, ...outcome.running };
    return true;
  }
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

/**
 * Brings `slot` to `to`: marks it moving, sends every key a master holds in it, then settles it everywhere. `open`: a
 * slot left half-moved, whose keys may be on any master and whose marks any master may hold; otherwise only the owner
 * and `strays` hold keys, and no master holds a mark.
 */
async function bringSlot(
  slot: number,
  to: Master,
  owner: SlotOwner,
  all: Master[],
  { open, strays }: { open: boolean; strays: Master[] },
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
  // A half-moved slot may have keys on any master (some already on the importing side): all are asked at once.
  const holders = open
    ? (
        await Promise.all(
          all.map(async (m) =>
            m.id !== to.id && Number(await m.client.call('CLUSTER', 'COUNTKEYSINSLOT', slot)) > 0 ? m : undefined,
          ),
        )
      ).filter((m) => m !== undefined)
    : [...(from && from.id !== to.id ? [from] : []), ...strays];
  const ownerId = from?.id ?? to.id;
  let moved = 0;
  for (const holder of holders) {
    // Keys on a master that neither owns the slot nor imports it: marked importing, it serves them after ASKING.
    if (holder.id !== ownerId) await holder.client.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ownerId);
    moved += await drainSlot(holder, slot, to, result, pace, ownerId);
  }
  // The new owner first: from then on the others' redirects lead to it. NODE clears the old owner's migrating mark
  // once it holds no keys; STABLE clears an importing mark elsewhere (only a half-moved slot, or strays, leave one).
  const marked = new Set(strays.map((m) => m.id));
  await to.client.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
  await Promise.all(
    all
      .filter((other) => other.id !== to.id)
      .map(async (other) => {
        try {
          // In turn: a master that refuses NODE (it still holds keys of the slot) must keep its mark.
          await other.client.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
          if (open || marked.has(other.id)) await other.client.call('CLUSTER', 'SETSLOT', slot, 'STABLE');
        } catch (err) {
          // A master that gave away its last slot becomes a replica of the new owner (cluster-allow-replica-migration)
          // and follows its view: nothing of it is left to settle.
          if (!/only with masters/i.test((err as Error).message)) throw err;
        }
      }),
  );
  return moved;
}
