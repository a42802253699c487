/**
 * The removeNodes step: nodes the spec lists under `remove` leave the cluster. By then moveSlots has given their
 * slots to the spec's masters; a master that still holds slots or keys is never removed. What is left is forgotten by
 * every node of the spec at once (CLUSTER FORGET bans an id for a minute, so no gossip brings it back), then the node
 * itself is reset so that it forgets the cluster, and stopped only when its entry says `stop`. Each part reads the
 * nodes first: a retry or a second run does only what is left.
 */
import {
  type ClusterSpec,
  type PlannedChange,
  type Refusal,
  type RemovedNode,
  type SlotRange,
  ErrorType,
  adminAddress,
  describeRanges,
} from '../model';
import { type ClusterNodeLine, keyspaceKeys, parseInfo } from '../redis/cluster-nodes';
import { probePort, withNode } from '../redis/connection';
import { type NodeView, readViewWith } from '../redis/view';
import { log, withHeartbeat } from '../runtime/context';
import { type LiveCluster, readLiveCluster } from './live';
import { forgetOnEvery, untilNoneKnows } from './forget';
import { refuse } from './preflight';

/** A node of `remove` as it is now: what it says of itself, and what the spec's nodes say of it. */
export interface DepartingNode {
  gone: RemovedNode;
  running: boolean;
  /** Its keys, when it runs. */
  keys?: number;
  /** Its own view, when it runs with cluster support. */
  view?: NodeView;
  /** Its line in the views of the spec's nodes that know it (none: it is out of the cluster already). */
  seenAs: ClusterNodeLine[];
}

export interface Removal {
  address: string;
  /** Its id, when some node of the spec knows it: forgotten on every one of them. */
  id?: string;
  role?: 'master' | 'replica';
  /** It still knows nodes of the cluster: CLUSTER RESET SOFT. */
  reset: boolean;
  /** SHUTDOWN once it is out. */
  stop: boolean;
}

export interface RemovalPlan {
  removals: Removal[];
  refusals: Refusal[];
}

const addressOf = (gone: RemovedNode) => `${gone.host}:${gone.port}`;

/** Reads each node of `remove`, and finds it in the views of the spec's nodes. Changes nothing. */
export async function readDeparting(spec: ClusterSpec, live: LiveCluster): Promise<DepartingNode[]> {
  return Promise.all(
    spec.remove.map(async (gone): Promise<DepartingNode> => {
      const seenAs = [...live.values()].flatMap(
        (node) => node.view?.nodes.filter((l) => !l.myself && l.host === gone.host && l.port === gone.port) ?? [],
      );
      const probe = await probePort(adminAddress(gone));
      if (probe.kind !== 'redis') return { gone, running: false, seenAs };
      return withNode(adminAddress(gone), async (client) => {
        const info = parseInfo((await client.info()) as string);
        const view = info.cluster_enabled === '1' ? await readViewWith(client) : undefined;
        return { gone, running: true, keys: keyspaceKeys(info), view, seenAs };
      });
    }),
  );
}

/**
 * What removing each node takes, and why one cannot be removed: a master that still owns slots (the spec must give
 * them to its masters, and moveSlots moves them first) or holds keys is never removed, and neither is a node that
 * holds keys without being part of this cluster. A replica's keys are a copy of its master's: reset drops them.
 */
export function decideRemovals(departing: DepartingNode[], { afterMoves = false } = {}): RemovalPlan {
  const plan: RemovalPlan = { removals: [], refusals: [] };
  for (const node of departing) {
    const address = addressOf(node.gone);
    const line = node.seenAs[0];
    const myself = node.view?.myself;
    const role = myself?.role ?? line?.role;
    const slots: SlotRange[] = myself?.slots.length ? myself.slots : (line?.slots ?? []);
    const joined = (node.view?.nodes.length ?? 0) > 1;
    const ours = line !== undefined || joined;
    const keys = node.keys ?? 0;
    // Planned before moveSlots, a master's slots and their keys are still to be moved to the spec's masters.
    const emptiedByTheMoves = afterMoves && role === 'master' && ours;
    if (!emptiedByTheMoves && role === 'master' && slots.length > 0 && ours) {
      plan.refusals.push({
        type: ErrorType.SlotConflict,
        message: `${address} still owns slots ${describeRanges(slots)}: a master is removed only once its slots are moved to the spec's masters`,
      });
      continue;
    }
    if (!emptiedByTheMoves && keys > 0 && (role === 'master' || !ours)) {
      plan.refusals.push({
        type: ErrorType.NodeNotEmpty,
        message: `${address} holds ${keys} key(s) ${ours ? 'in slots it does not own' : 'and is not part of the cluster'}; it is never removed or stopped with data in it: move or delete them yourself`,
      });
      continue;
    }
    const stop = node.gone.stop && node.running;
    if (!line && !joined && !stop) continue;
    plan.removals.push({ address, id: line?.id ?? myself?.id, role, reset: joined, stop });
  }
  return plan;
}

export const removalChanges = (removals: Removal[]): PlannedChange[] =>
  removals.map((r) => {
    const parts = [
      ...(r.id ? [`forget ${r.role ?? 'node'} ${r.address} (${r.id.slice(0, 8)}) on every node`] : []),
      ...(r.reset ? ['CLUSTER RESET SOFT on it'] : []),
      ...(r.stop ? ['stop it'] : []),
    ];
    const text = parts.join(', ');
    return { step: 'removeNodes', change: r.id ? text : `${r.address} is out of the cluster: ${text}` };
  });

/** The removals to approve: their changes, and the node ids the approval covers. */
export async function planRemovals(spec: ClusterSpec): Promise<{ changes: PlannedChange[]; ids: string[] }> {
  const plan = decideRemovals(await readDeparting(spec, await readLiveCluster(spec)));
  refuse(plan.refusals);
  return { changes: removalChanges(plan.removals), ids: plan.removals.flatMap((r) => (r.id ? [r.id] : [])) };
}

/** Step removeNodes: applies the plan to the approved ids only (nodes already out need no approval). */
export async function removeNodes(spec: ClusterSpec, approved: string[]): Promise<{ changes: PlannedChange[] }> {
  return withHeartbeat(async () => {
    const live = await readLiveCluster(spec);
    const plan = decideRemovals(await readDeparting(spec, live));
    refuse(plan.refusals);
    const removals = plan.removals.filter((r) => r.id === undefined || approved.includes(r.id));
    const ids = removals.flatMap((r) => (r.id ? [r.id] : []));
    const members = spec.nodes.filter((n) => live.get(n.id)?.view);
    await forgetOnEvery(members, ids);
    const byAddress = new Map(spec.remove.map((gone) => [addressOf(gone), gone]));
    for (const removal of removals.filter((r) => r.reset))
      await withNode(adminAddress(byAddress.get(removal.address)!), (client) =>
        client.call('CLUSTER', 'RESET', 'SOFT'),
      );
    await untilNoneKnows(members, ids, 'removed nodes');
    for (const removal of removals.filter((r) => r.stop))
      await withNode(adminAddress(byAddress.get(removal.address)!), async (client) => {
        // Reset left it empty; a node that holds keys is refused above and never reaches this.
        const keys = keyspaceKeys(parseInfo((await client.info('keyspace')) as string));
        if (keys > 0) throw new Error(`${removal.address} holds ${keys} key(s) after its reset; not stopped`);
        await client.call('SHUTDOWN', 'NOSAVE').catch((err: Error) => {
          if (!/closed|ECONNRESET|Connection/i.test(err.message)) throw err;
        });
      });
    if (removals.length > 0) log.info('removed nodes', { nodes: removals.map((r) => r.address) });
    return { changes: removalChanges(removals) };
  });
}
