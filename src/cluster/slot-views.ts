/** Waiting for masters' views of the slot map (CLUSTER NODES) to show a slot's owner. */
import type Redis from 'ioredis';
import { waitUntil } from '../runtime/context';

interface Viewer {
  address: string;
  id: string;
  client: Redis;
}

/**
 * A master that just met the cluster answers CLUSTERDOWN, or sends clients back to whoever it last heard owns a slot,
 * until gossip has told it the slot map: slots moved into it before then bounce clients between it and the owner.
 * A master that already owns the slot knows enough: a server's job (atomic-moves.ts) started by an earlier call can
 * end between the caller's read of the cluster and this wait.
 */
export async function untilItKnowsTheCluster(
  to: Viewer,
  from: Pick<Viewer, 'address' | 'id'>,
  slot: number,
): Promise<void> {
  if (to.id === from.id) return;
  await waitUntil(`${to.address} to learn the cluster's slots`, async () => {
    const info = String(await to.client.call('CLUSTER', 'INFO'));
    if (!/cluster_state:ok/.test(info)) return [`${to.address}: cluster_state is not ok`];
    const nodes = String(await to.client.call('CLUSTER', 'NODES'));
    return ownsInView(nodes, from.id, slot) || ownsInView(nodes, to.id, slot)
      ? []
      : [`${to.address} does not see ${from.address} own slot ${slot} yet`];
  });
}

/** Waits until every master's view gives `slot` to `to`. */
export async function untilEverySees(all: Viewer[], to: Viewer, slot: number): Promise<void> {
  await waitUntil(`every master to see ${to.address} own slot ${slot}`, async () => {
    const views = await Promise.all(
      all.map(async (m) => [m, String(await m.client.call('CLUSTER', 'NODES'))] as const),
    );
    return views
      .filter(([m, nodes]) => m.id !== to.id && !ownsInView(nodes, to.id, slot))
      .map(([m]) => `${m.address} does not see it yet`);
  });
}

/** Whether a CLUSTER NODES text gives `slot` to node `id`. */
export function ownsInView(nodes: string, id: string, slot: number): boolean {
  const line = nodes.split('\n').find((l) => l.startsWith(id));
  return (
    line
      ?.split(' ')
      .slice(8)
      .some((range) => {
        const [start, end] = range.split('-').map(Number);
        return slot >= start! && slot <= (end ?? start)!;
      }) ?? false
  );
}
