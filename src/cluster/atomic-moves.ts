/**
 * Atomic slot moves (Valkey 9.0+): `CLUSTER MIGRATESLOTS SLOTSRANGE <start> <end> ... NODE <id>`, issued on the owner,
 * moves whole slot ranges inside the servers (a snapshot of the slots, then their writes, then a short handoff during
 * which the owner holds its writes). One job per (owner, new owner) carries all its ranges. The job is followed in
 * `CLUSTER GETSLOTMIGRATIONS` until it ends. It outlives the worker that started it: a new attempt finds it there by
 * its ranges and new owner and waits for it instead of starting another. A job that failed or was cancelled, or one
 * the owner refuses (a slot already moving by the classic protocol), leaves its slots to the classic path, and the
 * report says why.
 */
import type Redis from 'ioredis';
import { type SlotRange, countSlots } from '../model';
import { capabilitiesOf } from '../redis/servers';
import { cancelRequested, heartbeat, log, sleep } from '../runtime/context';
import { ownsInView } from './slot-views';

/** A master as moveSlots holds it: enough to issue and follow a job. */
export interface AtomicEndpoint {
  address: string;
  id: string;
  client: Redis;
}

export interface AtomicMoveOutcome {
  /** The slots are the new owner's. */
  done: boolean;
  /** The server's job name, when one ran. */
  job?: string;
  /** The job was already running (started by an earlier attempt): this one waited for it. */
  resumed?: boolean;
  /** Keys in the ranges when the job started (COUNTKEYSINSLOT on the owner). */
  keys: number;
  seconds: number;
  /** Why the classic path takes these slots instead. */
  fallback?: string;
  /** Still running when the wait given ran out: its state then. */
  running?: { state: string; remainingReplSize: number };
}

/** One job of GETSLOTMIGRATIONS, as its flat [field, value, ...] reply says. */
export interface SlotMigrationJob {
  name: string;
  operation: string;
  slotRanges: string;
  targetNode: string;
  state: string;
  message: string;
  remainingReplSize: number;
  createTime: number;
}

const POLL_MS = 50;
const TERMINAL = /^(success|failed|cancel)/;

/** Ranges as GETSLOTMIGRATIONS writes them: "0-99 200-200". */
export const rangesText = (ranges: SlotRange[]) => ranges.map(([a, b]) => `${a}-${b}`).join(' ');

export function parseSlotMigrations(reply: unknown): SlotMigrationJob[] {
  return (reply as unknown[][]).map((flat) => {
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) f.set(String(flat[i]), String(flat[i + 1]));
    return {
      name: f.get('name') ?? '',
      operation: f.get('operation') ?? '',
      slotRanges: f.get('slot_ranges') ?? '',
      targetNode: f.get('target_node') ?? '',
      state: f.get('state') ?? '',
      message: f.get('message') ?? '',
      remainingReplSize: Number(f.get('remaining_repl_size') ?? 0),
      createTime: Number(f.get('create_time') ?? 0),
    };
  });
}

/** The owner's export job for exactly these ranges to this node, newest first; undefined if it has none. */
export function findJob(jobs: SlotMigrationJob[], ranges: SlotRange[], targetId: string, running: boolean) {
  const text = rangesText(ranges);
  return jobs
    .filter((j) => j.operation === 'EXPORT' && j.targetNode === targetId && j.slotRanges === text)
    .filter((j) => !running || !TERMINAL.test(j.state))
    .sort((a, b) => b.createTime - a.createTime)[0];
}

/** Whether both nodes move slots atomically (CLUSTER MIGRATESLOTS). */
export async function canMoveAtomically(from: AtomicEndpoint, to: AtomicEndpoint): Promise<boolean> {
  const [a, b] = await Promise.all([capabilitiesOf(from.client), capabilitiesOf(to.client)]);
  return a.atomicSlotMigration && b.atomicSlotMigration;
}

const jobsOf = async (owner: AtomicEndpoint) =>
  parseSlotMigrations(await owner.client.call('CLUSTER', 'GETSLOTMIGRATIONS'));

/** Whether the owner runs a job for exactly these ranges to this node (started by an earlier call or attempt). */
export async function jobRunning(owner: AtomicEndpoint, ranges: SlotRange[], targetId: string): Promise<boolean> {
  return findJob(await jobsOf(owner), ranges, targetId, true) !== undefined;
}

async function keysIn(owner: AtomicEndpoint, ranges: SlotRange[]): Promise<number> {
  const pipeline = owner.client.pipeline();
  for (const [start, end] of ranges) for (let s = start; s <= end; s++) pipeline.call('CLUSTER', 'COUNTKEYSINSLOT', s);
  return ((await pipeline.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
}

/** Whether the owner's own view gives `ranges` to `to` (a job hands all its ranges over at once: their ends tell). */
async function ownerHandedOver(from: AtomicEndpoint, to: AtomicEndpoint, ranges: SlotRange[]): Promise<boolean> {
  const nodes = String(await from.client.call('CLUSTER', 'NODES'));
  return ranges.every(([start, end]) => ownsInView(nodes, to.id, start) && ownsInView(nodes, to.id, end));
}

/**
 * Moves `ranges` from `from` to `to` in one job, and waits for it, at most `waitMs` (undefined: until it ends), so
 * that the workflow's progress shows the job's state between calls; see the file's comment.
 */
export async function moveAtomically(
  from: AtomicEndpoint,
  to: AtomicEndpoint,
  ranges: SlotRange[],
  waitMs?: number,
): Promise<AtomicMoveOutcome> {
  const started = Date.now();
  const keys = await keysIn(from, ranges);
  const seconds = () => (Date.now() - started) / 1000;
  const jobs = await jobsOf(from);
  let job = findJob(jobs, ranges, to.id, true);
  const resumed = job !== undefined;
  const ended = job ? undefined : findJob(jobs, ranges, to.id, false);
  if (ended?.state === 'success' && (await ownerHandedOver(from, to, ranges))) {
    // An earlier call's job ended between the caller's read of the cluster and now.
    return { done: true, job: ended.name, resumed: true, keys: await keysIn(to, ranges), seconds: seconds() };
  }
  if (job)
    log.info('an atomic slot move an earlier attempt started is still running: waiting for it', { job: job.name });
  else {
    // One SLOTSRANGE block with every start-end pair: a second SLOTSRANGE keyword is a syntax error (Valkey 9.1).
    const args = ['SLOTSRANGE', ...ranges.flat()];
    try {
      await from.client.call('CLUSTER', 'MIGRATESLOTS', ...args, 'NODE', to.id);
    } catch (err) {
      return {
        done: false,
        keys,
        seconds: seconds(),
        fallback: `${from.address} refused MIGRATESLOTS: ${(err as Error).message}`,
      };
    }
    job = findJob(await jobsOf(from), ranges, to.id, false);
    if (!job) throw new Error(`${from.address} took MIGRATESLOTS for ${rangesText(ranges)} but lists no such job`);
  }
  const name = job.name;
  for (;;) {
    const now = (await jobsOf(from)).find((j) => j.name === name);
    if (!now) throw new Error(`${from.address}: slot migration job ${name} is no longer listed`);
    heartbeat({
      atomicJob: name,
      state: now.state,
      remainingReplSize: now.remainingReplSize,
      slots: countSlots(ranges),
    });
    if (now.state === 'success') return { done: true, job: name, resumed, keys, seconds: seconds() };
    if (TERMINAL.test(now.state))
      return {
        done: false,
        job: name,
        resumed,
        keys,
        seconds: seconds(),
        fallback: `job ${name} ended ${now.state}${now.message ? `: ${now.message}` : ''}`,
      };
    if (waitMs !== undefined && Date.now() - started >= waitMs) {
      const running = { state: now.state, remainingReplSize: now.remainingReplSize };
      return { done: false, job: name, resumed, keys, seconds: seconds(), running };
    }
    if (cancelRequested()) {
      // The run was cancelled: the server stops the job too. (A timed-out attempt leaves it to the next attempt.)
      await from.client.call('CLUSTER', 'CANCELSLOTMIGRATIONS').catch(() => undefined);
      throw new Error(`cancelled: slot migration job ${name} on ${from.address} was cancelled with it`);
    }
    await sleep(POLL_MS);
  }
}
