/**
 * The cutover of a live sync, and waiting for the mirror to catch up. The applied offset of a shard is read from the
 * checkpoints in the target (what every master holds), the source's from its INFO: no link to the sync needed.
 */
import type Redis from 'ioredis';
import type { ClusterSpec } from '../../model';
import type { SlotMap } from '../../redis/slot-map';
import { heartbeat, sleep } from '../../runtime/context';
import { type LiveShard, addressText, replicationOffsetOf, roleOf, streamNodeOf, writerOf } from '../source-master';
import { connectSource, migrationOf } from '../sources';
import { drainAndStop, pauseWrites, waitDrained } from '../notify/drain';
import { targetMap } from '../target';
import { appliedEverywhere, clearSyncKeys, readCheckpoints, syncKeys } from './checkpoints';

/**
 * The node that takes the shard's writes now: the one whose offset counts, and the one a cutover holds. Offsets are the
 * same along a replication chain (PSYNC2), so a sync that reads the old master, now a replica, is measured against it.
 */
async function connectWriter(spec: ClusterSpec, shard: LiveShard): Promise<{ node: string; client: Redis }> {
  const writer = await writerOf(spec, await streamNodeOf(spec, shard));
  return { node: addressText(writer), client: await connectSource(spec, writer.host, writer.port) };
}

export interface ShardOffsets {
  shard: string;
  source: number;
  applied?: number;
  backlogBytes: number;
}

async function appliedOffset(map: SlotMap, syncId: string, shard: LiveShard): Promise<number | undefined> {
  return appliedEverywhere(await readCheckpoints(map, syncKeys(map, syncId, shard.id)))?.offset;
}

/** Where each source stands and how far the cluster has applied it. */
export async function readSyncOffsets(spec: ClusterSpec, shards: LiveShard[], syncId: string): Promise<ShardOffsets[]> {
  const map = targetMap(spec);
  try {
    await map.refresh();
    return await Promise.all(
      shards.map(async (shard) => {
        const { client } = await connectWriter(spec, shard);
        try {
          const { offset, backlog } = await replicationOffsetOf(client);
          return {
            shard: shard.id,
            source: offset,
            applied: await appliedOffset(map, syncId, shard),
            backlogBytes: backlog,
          };
        } finally {
          client.disconnect();
        }
      }),
    );
  } finally {
    map.close();
  }
}

/**
 * Waits until the cluster has applied every source up to where each stood when called: what was written before
 * now is in the cluster. False after `timeoutMs`.
 */
export async function waitCaughtUp(
  spec: ClusterSpec,
  shards: LiveShard[],
  syncId: string,
  timeoutMs = 10_000,
): Promise<boolean> {
  if (migrationOf(spec).liveMethod === 'notifications') return waitDrained(spec, shards, syncId, timeoutMs);
  const marks = await readSyncOffsets(spec, shards, syncId);
  const map = targetMap(spec);
  try {
    await map.refresh();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const applied = await Promise.all(shards.map((shard) => appliedOffset(map, syncId, shard)));
      if (applied.every((a, i) => a !== undefined && a >= marks[i]!.source)) return true;
      if (Date.now() > deadline) return false;
      heartbeat({ waitingFor: 'the live sync to catch up' });
      await sleep(20);
    }
  } finally {
    map.close();
  }
}

export interface DrainResult {
  /** Every shard applied up to the source's offset while writes were held: the stop markers are set. */
  reached: boolean;
  /** How long the sources held writes, from the first CLIENT PAUSE to the last CLIENT UNPAUSE. */
  pausedMs: number;
  /** The nodes whose writes were held (each shard's master at that moment). */
  paused?: string[];
  offsets: ShardOffsets[];
  reason?: string;
  /** How it knows the cluster holds every write (when reached). */
  guarantee?: string;
}

/**
 * CLIENT PAUSE <budget> WRITE on the node that takes each shard's writes (after a failover, the new master, not the
 * node the sync reads), a check that every node paused is still a master, then the drain of the sync's method: PSYNC
 * waits until each shard's applied offset equals the source's (which stands still while paused: writes, expiries and
 * pings to replicas are held); notifications ask each shard's sync to drain (notify/drain.ts). When they do, the stop
 * markers are set: the sync applies nothing after them. Then CLIENT UNPAUSE. When the drain does not end within the
 * budget, or a paused node is a replica, nothing is set and the sync goes on: nothing is lost. With `writesStopped`
 * (the user stopped the writes: sources that allow no CLIENT PAUSE) nothing is paused.
 */
export async function pauseAndDrain(
  spec: ClusterSpec,
  shards: LiveShard[],
  syncId: string,
  pauseBudgetMs: number,
  writesStopped = false,
): Promise<DrainResult> {
  const notifications = migrationOf(spec).liveMethod === 'notifications';
  const map = targetMap(spec);
  const writers = await Promise.all(shards.map((shard) => connectWriter(spec, shard)));
  const sources = writers.map((w) => w.client);
  const pausedNodes = writesStopped ? [] : writers.map((w) => w.node);
  try {
    await map.refresh();
    const paused = Date.now();
    if (!writesStopped) {
      const refused = await pauseWrites(writers, pauseBudgetMs);
      if (refused) return { reached: false, offsets: [], reason: refused, pausedMs: 0, paused: [] };
    }
    let result: Omit<DrainResult, 'pausedMs' | 'paused'>;
    try {
      // A node that became a replica between the look and the pause would hold nothing: refuse rather than stop there.
      const roles = await Promise.all(sources.map(roleOf));
      const demoted = roles.flatMap((role, i) =>
        role.master ? [] : [`${writers[i]!.node} is now a replica of ${addressText(role.masterAddress!)}`],
      );
      const deadline = paused + pauseBudgetMs - 50;
      if (demoted.length > 0)
        result = {
          reached: false,
          offsets: [],
          reason: `the source failed over during the cutover (${demoted.join(', ')}): writes were let through again and the sync goes on; ask for the cutover again`,
        };
      else if (notifications)
        result = (await drainAndStop(map, shards, syncId, deadline))
          ? { reached: true, offsets: [], guarantee: guaranteeOf('notifications', writesStopped) }
          : {
              reached: false,
              offsets: [],
              reason: `the notifications did not drain within the ${pauseBudgetMs} ms write pause; writes were let through again and the sync goes on`,
            };
      else {
        result = await drain(map, shards, syncId, sources, deadline, pauseBudgetMs);
        if (result.reached) result.guarantee = guaranteeOf('psync', writesStopped);
      }
    } finally {
      if (!writesStopped) await Promise.all(sources.map((client) => client.call('CLIENT', 'UNPAUSE')));
    }
    heartbeat({ cutover: result.reached });
    return { ...result, pausedMs: writesStopped ? 0 : Date.now() - paused, paused: pausedNodes };
  } finally {
    for (const client of sources) client.disconnect();
    map.close();
  }
}

/** How a cutover that answered done knows the cluster holds every write. */
function guaranteeOf(method: 'psync' | 'notifications', writesStopped: boolean): string {
  const held = writesStopped
    ? 'with the writes stopped by the user (not checked by the cutover)'
    : 'while CLIENT PAUSE WRITE held every write';
  return method === 'psync'
    ? `every source's replication offset applied in the cluster, ${held}`
    : `every keyspace notification sent before the drain received (a PING round trip on each subscription) and its key copied again, ${held}; keys are compared both ways by verify "all"`;
}

/**
 * While the sources are paused: waits until every shard's applied offset reaches the source's, then sets the stop
 * markers there. Gives up at `deadline` (inside the budget, leaving room for the markers and the unpause).
 */
async function drain(
  map: SlotMap,
  shards: LiveShard[],
  syncId: string,
  sources: Redis[],
  deadline: number,
  pauseBudgetMs: number,
): Promise<Omit<DrainResult, 'pausedMs' | 'paused'>> {
  const keys = shards.map((shard) => syncKeys(map, syncId, shard.id));
  const marks = await Promise.all(sources.map(replicationOffsetOf));
  const offsets: ShardOffsets[] = shards.map((shard, i) => ({
    shard: shard.id,
    source: marks[i]!.offset,
    backlogBytes: marks[i]!.backlog,
  }));
  for (;;) {
    const applied = await Promise.all(shards.map((shard) => appliedOffset(map, syncId, shard)));
    applied.forEach((a, i) => (offsets[i]!.applied = a));
    if (applied.every((a, i) => a !== undefined && a >= offsets[i]!.source)) {
      await Promise.all(
        keys.map(async (k, i) => (await map.client(map.ownerOf(k.stop))).set(k.stop, String(offsets[i]!.source))),
      );
      return { reached: true, offsets };
    }
    if (Date.now() >= deadline) {
      const behind = offsets
        .filter((o) => o.applied === undefined || o.applied < o.source)
        .map((o) => `${o.shard} at ${o.applied ?? 'no offset'} of ${o.source}`);
      return {
        reached: false,
        offsets,
        reason: `the lag did not reach zero within the ${pauseBudgetMs} ms write pause (${behind.join(', ')}); writes were let through again and the sync goes on`,
      };
    }
    await sleep(2);
  }
}

/** Removes a finished sync's state (checkpoints, stop markers) from the target. */
export async function clearSyncState(spec: ClusterSpec, shards: LiveShard[], syncId: string): Promise<void> {
  const map = targetMap(spec);
  try {
    await map.refresh();
    for (const shard of shards) await clearSyncKeys(map, syncKeys(map, syncId, shard.id));
  } finally {
    map.close();
  }
}
