/**
 * Steps 4 and 5 (assignSlots, formCluster): each master adds the slots it lacks, before the masters meet (as
 * redis-cli does: the first handshake then carries the slots); then masters still alone get config epochs 1..N and
 * every master meets the masters it does not know. Replicas join later, one at a time (replicateNodes), so that no
 * epoch collision bumps currentEpoch.
 */
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  SLOT_COUNT,
  countSlots,
  describeRanges,
  masters,
} from '../model';
import { lineAt } from '../redis/cluster-nodes';
import { withSpecNode } from '../redis/connection';
import { log, waitUntil, withHeartbeat } from '../runtime/context';
import { decideForming, decideSlots, formChanges, slotChanges } from './decisions';
import { readLiveCluster, readViews } from './live';
import { refuse } from './preflight';

export interface StepChanges {
  changes: PlannedChange[];
}

export async function assignSlots(spec: ClusterSpec): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const { adds, refusals } = decideSlots(spec, await readLiveCluster(spec, masters(spec)));
    refuse(refusals);
    for (const { node, ranges } of adds) {
      await withSpecNode(node, (client) =>
        client.call('CLUSTER', 'ADDSLOTSRANGE', ...ranges.flatMap(([s, e]) => [String(s), String(e)])),
      );
      log.info('slots assigned', { node: node.id, slots: describeRanges(ranges), count: countSlots(ranges) });
    }
    return { changes: slotChanges(adds) };
  });
}

/** Problems with "every node in `among` knows every node in `nodes`, handshakes done". */
export async function meshProblems(among: NodeSpec[], nodes: NodeSpec[]): Promise<string[]> {
  const views = await readViews(among);
  const problems: string[] = [];
  for (const viewer of among) {
    const view = views.get(viewer.id)!;
    for (const node of nodes) {
      const line = lineAt(view, node.host, node.port);
      if (!line || line.handshake) problems.push(`${viewer.id} does not know ${node.id} yet`);
      else if (!line.myself && line.linkState !== 'connected') problems.push(`${viewer.id} has no link to ${node.id}`);
    }
  }
  return problems;
}

export async function formCluster(spec: ClusterSpec): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const ms = masters(spec);
    const forming = decideForming(spec, await readLiveCluster(spec, ms));
    for (const { node, epoch } of forming.epochs) {
      await withSpecNode(node, (client) => client.call('CLUSTER', 'SET-CONFIG-EPOCH', String(epoch)));
      log.info('config epoch set', { node: node.id, epoch });
    }
    // Every master meets every other directly: handshakes finish in one round trip instead of waiting for gossip.
    for (const { node, others } of forming.meets) {
      await withSpecNode(node, async (client) => {
        for (const other of others) await client.call('CLUSTER', 'MEET', other.host, String(other.port));
      });
      log.info('cluster meet', { from: node.id, to: others.map((o) => o.id) });
    }
    await waitUntil('the masters to know each other', () => meshProblems(ms, ms));
    await waitUntil('every master to see all 16384 slots assigned', async () => {
      const views = await readViews(ms);
      return ms.flatMap((node) => {
        const assigned = views.get(node.id)!.clusterInfo.cluster_slots_assigned;
        return assigned === String(SLOT_COUNT) ? [] : [`${node.id}: cluster_slots_assigned ${assigned}`];
      });
    });
    return { changes: formChanges(forming) };
  });
}
