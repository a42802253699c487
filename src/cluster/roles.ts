/**
 * Moving a master's role, the primitives repair and failover share: a planned failover (CLUSTER FAILOVER, the
 * replica takes over once it has every write) and a takeover of a lost master (CLUSTER FAILOVER TAKEOVER), only
 * once most other masters flag it failed. Each waits until the cluster shows the result.
 */
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  ErrorType,
  describeRanges,
  nodeLabel,
  nodeSlots,
} from '../model';
import { parseInfo } from '../redis/cluster-nodes';
import { withSpecNode } from '../redis/connection';
import { fail, log, waitUntil } from '../runtime/context';
import { type LiveCluster, readLiveCluster, readViews } from './live';
import { type Takeover, decideRepair } from './repair-decisions';

export const ownsAll = (node: NodeSpec, slots: ReturnType<typeof nodeSlots>) => async (): Promise<string[]> => {
  const me = (await readViews([node])).get(node.id)!.myself;
  const first = slots[0]![0];
  return me.role === 'master' && me.slots.some(([a, b]) => first >= a && first <= b)
    ? []
    : [`${node.id} does not own slot ${first} yet (${me.flags.join(',')})`];
};

/** Every answering node's cluster_state is ok. */
export async function clusterOk(nodes: NodeSpec[]): Promise<string[]> {
  const views = await readViews(nodes);
  return nodes.flatMap((n) => {
    const state = views.get(n.id)!.clusterInfo.cluster_state;
    return state === 'ok' ? [] : [`${n.id}: cluster_state ${state}`];
  });
}

export const answeringNodes = (spec: ClusterSpec, live: LiveCluster) => spec.nodes.filter((n) => live.get(n.id)?.view);

/** Waits until most other masters flag the lost master `fail`; refuses when it answers or they never do. */
async function confirmLost(spec: ClusterSpec, takeover: Takeover): Promise<Takeover> {
  let current: Takeover | undefined = takeover;
  try {
    await waitUntil(
      `most masters to flag ${takeover.master.id} failed`,
      async () => {
        current = decideRepair(spec, await readLiveCluster(spec)).takeovers.find((t) => t.lostId === takeover.lostId);
        if (!current) return [];
        return current.flaggedBy.length >= current.needed
          ? []
          : [`flagged fail by ${current.flaggedBy.length} of ${current.needed} needed`];
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
  } catch {
    fail(
      ErrorType.TakeoverRefused,
      `${nodeLabel(takeover.master)}: only ${current?.flaggedBy.length ?? 0} of the ${current?.needed ?? '?'} masters needed flag node ${takeover.lostId.slice(0, 8)} failed; a takeover needs the cluster to agree that it is down`,
    );
  }
  if (!current)
    fail(
      ErrorType.TakeoverRefused,
      `${nodeLabel(takeover.master)}: node ${takeover.lostId.slice(0, 8)} answers again or its slots moved; nothing was taken over`,
    );
  return current;
}

export async function takeOver(spec: ClusterSpec, takeover: Takeover): Promise<PlannedChange> {
  const confirmed = await confirmLost(spec, takeover);
  const slots = nodeSlots(takeover.master);
  await withSpecNode(confirmed.replica, (c) => c.call('CLUSTER', 'FAILOVER', 'TAKEOVER'));
  log.info('takeover', { replica: confirmed.replica.id, master: takeover.master.id, lostId: takeover.lostId });
  await waitUntil(`${confirmed.replica.id} to own slots ${describeRanges(slots)}`, ownsAll(confirmed.replica, slots));
  return {
    step: 'takeoverMasters',
    node: confirmed.replica.id,
    change: `took over slots ${describeRanges(slots)} of ${takeover.master.id} (node ${takeover.lostId.slice(0, 8)}, flagged fail by ${confirmed.flaggedBy.join(', ')})`,
  };
}

/** Step takeoverMasters: CLUSTER FAILOVER TAKEOVER for each approved lost master (by node id). */
/**
 * CLUSTER FAILOVER on `node`, a replica in sync: the master hands over its slots after the replica caught up, so no
 * acknowledged write is lost. A manual failover that did not happen within its 5 s is asked again.
 */
export async function plannedFailover(
  node: NodeSpec,
  former: NodeSpec,
  slots: ReturnType<typeof nodeSlots>,
  nodes: NodeSpec[],
): Promise<void> {
  await waitUntil(`${node.id} to be in sync with its master`, () =>
    withSpecNode(node, async (c) => {
      const info = parseInfo((await c.info('replication')) as string);
      return info.master_link_status === 'up' ? [] : [`${node.id}: master_link_status ${info.master_link_status}`];
    }),
  );
  // Masters vote only for a node they know as a replica of that master: right after a role change, gossip may not
  // have told them yet, and a failover asked then times out (measured: about one failback in three without this).
  await waitUntil(`every master to know ${node.id} as a replica of ${former.id}`, async () => {
    const views = await readViews(nodes);
    const me = views.get(node.id)!.myself;
    return nodes.flatMap((viewer) => {
      const view = views.get(viewer.id)!;
      if (view.myself.role !== 'master' || view.myself.slots.length === 0) return [];
      const line = view.nodes.find((l) => l.id === me.id);
      return line?.role === 'replica' && line.masterId === me.masterId ? [] : [`${viewer.id} does not see it so yet`];
    });
  });
  for (let attempt = 1; ; attempt++) {
    await withSpecNode(node, (c) => c.call('CLUSTER', 'FAILOVER'));
    try {
      await waitUntil(`${node.id} to own slots ${describeRanges(slots)}`, ownsAll(node, slots), { timeoutMs: 15_000 });
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
      log.warn('manual failover did not happen; asking again', { node: node.id, attempt });
    }
  }
  const newId = (await readViews([node])).get(node.id)!.myself.id;
  await waitUntil(`${former.id} to replicate ${node.id}`, async () => {
    const me = (await readViews([former])).get(former.id)!.myself;
    return me.role === 'replica' && me.masterId === newId ? [] : [`${former.id} is ${me.flags.join(',')}`];
  });
  await waitUntil('every node to report cluster_state ok', () => clusterOk(nodes));
}

/** Step restoreRoles: each spec master that is a replica of its own replica takes its slots back. */
