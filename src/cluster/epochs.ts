/**
 * Which epochs a cluster must show. Provisioning gives exact ones (currentEpoch = the spec's, no vote cast). Every
 * failover, takeover and slot move moves them on, rightly and for good: from then on the nodes must agree, and never
 * show less than the spec. A change is known from the record our day-two runs leave in the cluster (epochRecordKey),
 * or, for changes made before such records (or by hand), from a master whose configEpoch is past the spec's.
 */
import calculateSlot from 'cluster-key-slot';
import type Redis from 'ioredis';
import { type ClusterSpec, adminAddress, expectedCurrentEpoch, masters } from '../model';
import { parseInfo } from '../redis/cluster-nodes';
import { withSpecNode } from '../redis/connection';
import { SlotMap } from '../redis/slot-map';

export interface EpochExpectation {
  /** Exactly the spec's currentEpoch and lastVoteEpoch 0 (a cluster only ever created). */
  exact: boolean;
  /** The least currentEpoch every node must show. */
  floor: number;
  /** The change that moved the epochs on, when they were. */
  movedBy?: string;
}

/** The record of the last change that moved the epochs: a hash in the cluster itself, replicated like any key. */
export const epochRecordKey = (spec: Pick<ClusterSpec, 'name'>) => `rco:epochs:{${spec.name}}`;

/** Pure: the expectation from the masters' configEpochs as live and the record, if any. */
export function epochExpectation(
  spec: ClusterSpec,
  masterConfigEpochs: number[],
  record?: Record<string, string>,
): EpochExpectation {
  const floor = expectedCurrentEpoch(spec);
  if (record?.last) return { exact: false, floor, movedBy: record.last };
  const past = masterConfigEpochs.filter((epoch) => epoch > floor);
  if (past.length === 0) return { exact: true, floor };
  return {
    exact: false,
    floor,
    movedBy: `a failover or slot move that left no record (master configEpochs ${[...masterConfigEpochs].sort((a, b) => a - b).join(', ')})`,
  };
}

async function onOwner<T>(spec: ClusterSpec, fn: (client: Redis, key: string) => Promise<T>) {
  const map = new SlotMap(masters(spec).map(adminAddress));
  try {
    await map.refresh();
    const key = epochRecordKey(spec);
    return await fn(await map.client(map.ownerOfSlot(calculateSlot(key))), key);
  } finally {
    map.close();
  }
}

/** The record, or undefined when there is none (or its slot has no owner now). */
export async function readEpochRecord(spec: ClusterSpec): Promise<Record<string, string> | undefined> {
  const record = await onOwner(spec, (client, key) => client.hgetall(key)).catch(() => undefined);
  return record && Object.keys(record).length > 0 ? record : undefined;
}

/** Records a change that moved the epochs on: what it was, by which run, and the currentEpoch it left. */
export async function recordEpochChange(spec: ClusterSpec, what: string, currentEpoch: number): Promise<void> {
  const at = new Date().toISOString();
  await onOwner(spec, (client, key) =>
    client.hset(key, 'last', `${what} at ${at}, currentEpoch ${currentEpoch}`, 'currentEpoch', String(currentEpoch)),
  );
}

/** The highest currentEpoch among the nodes that answer (a node that is down is passed over). */
export async function highestCurrentEpoch(spec: ClusterSpec): Promise<number> {
  const epochs = await Promise.all(
    spec.nodes.map((node) =>
      withSpecNode(node, async (client) =>
        Number(parseInfo((await client.call('CLUSTER', 'INFO')) as string).cluster_current_epoch ?? 0),
      ).catch(() => 0),
    ),
  );
  return Math.max(0, ...epochs);
}
