/**
 * After a new snapshot of a source the cluster already held (a restart, a failover, a backlog that moved on): keys the
 * source no longer has are removed, when everything in the cluster came from the sources.
 */
import calculateSlot from 'cluster-key-slot';
import type { ClusterSpec } from '../../model';
import { parseClusterNodes } from '../../redis/cluster-nodes';
import type { SlotMap } from '../../redis/slot-map';
import { type DestinationBytes, migrationOf } from '../sources';
import { heartbeat } from '../../runtime/context';
import { isInternalKey, scanMasters } from '../target';
import { keyHash } from './snapshot';

/**
 * Removes the shard's keys that the new snapshot did not write (`written`: keyHash of each, with its target database):
 * the source deleted them while it was away. Each target database its keys go into is scanned.
 */
export async function removeKeysNotWritten(
  map: SlotMap,
  written: Set<number>,
  destinations: Map<number, DestinationBytes>,
  slots?: [number, number][],
): Promise<number> {
  let removed = 0;
  for (const db of new Set([...destinations.values()].map((to) => to.db))) {
    const prefixes = [...destinations.values()].filter((to) => to.db === db).map((to) => to.prefix);
    const belongs = (key: Buffer) => belongsToShard(key, prefixes, slots);
    removed += await removeNotWrittenIn(map.onDatabase(db), written, belongs, removed);
  }
  return removed;
}

async function removeNotWrittenIn(
  map: SlotMap,
  written: Set<number>,
  belongs: (key: Buffer) => boolean,
  before: number,
): Promise<number> {
  let removed = 0;
  for await (const { owner, keys } of scanMasters(map)) {
    const stale = keys.filter((key) => !isInternalKey(key) && belongs(key) && !written.has(keyHash(key, map.db)));
    if (stale.length > 0) {
      await (
        await map.bulk(owner)
      ).execOrThrow(
        stale.map((key) => ['UNLINK', key]),
        'removing keys the source no longer has',
      );
      removed += stale.length;
    }
    heartbeat({ phase: 'snapshot', removed: before + removed }); // a big target takes a while: no missed heartbeat meanwhile
  }
  return removed;
}

/** The slots a source cluster master owns (undefined for a standalone source: every key is its). */
export function shardSlots(spec: ClusterSpec, nodes: unknown): [number, number][] | undefined {
  if (migrationOf(spec).source.type !== 'cluster' || typeof nodes !== 'string') return undefined;
  return parseClusterNodes(nodes)
    .find((n) => n.myself)
    ?.slots.map(([a, b]) => [a, b]);
}

/** Whether a target key can be the shard's: in its slots (a cluster source), or under one of its prefixes. */
function belongsToShard(key: Buffer, prefixes: (Buffer | undefined)[], slots?: [number, number][]): boolean {
  if (slots) {
    const slot = calculateSlot(key);
    return slots.some(([a, b]) => slot >= a && slot <= b);
  }
  return prefixes.some((prefix) => !prefix || key.subarray(0, prefix.length).equals(prefix));
}
