/**
 * The repair steps. Each reads the live cluster, decides its part (repair-decisions.ts) and applies only that, so a
 * step cut off is simply run again. Destructive steps act only on the node ids the workflow had approved.
 */
import { type ClusterSpec, type PlannedChange, ErrorType, nodeSlots } from '../model';
import { parseInfo } from '../redis/cluster-nodes';
import { withSpecNode } from '../redis/connection';
import { log, waitUntil, withHeartbeat } from '../runtime/context';
import { decidePreflight } from './decisions';
import { type StepChanges, meshProblems } from './form';
import { type LiveCluster, readLiveCluster } from './live';
import { forgetOnEvery, untilNoneKnows } from './forget';
import { refuse } from './preflight';
import { type RepairDecision, decideRepair, repairChanges } from './repair-decisions';
import { answeringNodes, plannedFailover, takeOver } from './roles';

export interface RepairPlan {
  changes: PlannedChange[];
  /** Why the repair cannot go on (it changes nothing then). */
  refusals: string[];
  /** Node ids each destructive step would act on: what an approval covers. */
  takeovers: string[];
  forgets: string[];
}

async function decided(
  spec: ClusterSpec,
  held: string[] = [],
): Promise<{ live: LiveCluster; decision: RepairDecision }> {
  const live = await readLiveCluster(spec);
  return { live, decision: decideRepair(spec, live, held) };
}

function planOf(decision: RepairDecision): RepairPlan {
  return {
    changes: repairChanges(decision),
    refusals: decision.refusals.map((r) => `${r.type}: ${r.message}`),
    takeovers: decision.takeovers.map((t) => t.lostId),
    forgets: decision.forgets.map((f) => f.lostId),
  };
}

/** What a repair would do now; reads only. */
export async function planRepair(spec: ClusterSpec): Promise<RepairPlan> {
  return planOf((await decided(spec)).decision);
}

/**
 * The repair's read-only preflight: something that is not Redis on a port, a node that holds data and is not in the
 * cluster, a node the spec does not know: the run stops before anything changes. A node that is down is not a
 * reason to stop (starting it is the repair); that its slots are lost is decided once it was started.
 */
export async function inspectRepair(spec: ClusterSpec, held: string[] = []): Promise<RepairPlan> {
  const { live, decision } = await decided(spec, held);
  const blocking = new Set<string>([ErrorType.PortNotRedis, ErrorType.BusPortInUse, ErrorType.NodeNotClusterEnabled]);
  refuse(decidePreflight(spec, live).refusals.filter((r) => blocking.has(r.type)));
  refuse(decision.refusals.filter((r) => r.type !== ErrorType.SlotsLost));
  return planOf(decision);
}

export async function takeoverMasters(spec: ClusterSpec, approved: string[]): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const { decision } = await decided(spec);
    refuse(decision.refusals);
    const changes: PlannedChange[] = [];
    for (const takeover of decision.takeovers) {
      if (!approved.includes(takeover.lostId)) {
        log.warn('takeover not approved; left for the next repair', { lostId: takeover.lostId });
        continue;
      }
      changes.push(await takeOver(spec, takeover));
    }
    return { changes };
  });
}

/** Step forgetLostNodes: CLUSTER FORGET of each approved lost node id on every node, within the ban's minute. */
export async function forgetLostNodes(
  spec: ClusterSpec,
  approved: string[],
  held: string[] = [],
): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const { live, decision } = await decided(spec, held);
    const ids = decision.forgets.map((f) => f.lostId).filter((id) => approved.includes(id));
    const nodes = answeringNodes(spec, live);
    await forgetOnEvery(nodes, ids);
    await untilNoneKnows(nodes, ids, 'forgotten ids');
    if (ids.length > 0) log.info('forgot lost nodes', { ids });
    return {
      changes: ids.map((id) => ({ step: 'forgetLostNodes' as const, change: `forgot ${id} on ${nodes.length} nodes` })),
    };
  });
}

/** Step rejoinNodes: a node that came back empty meets the cluster and replicates whoever holds its pair's slots. */
export async function rejoinNodes(spec: ClusterSpec): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const { live, decision } = await decided(spec);
    const members = answeringNodes(spec, live).filter((n) => (live.get(n.id)!.view!.nodes.length ?? 0) > 1);
    const changes: PlannedChange[] = [];
    for (const { node, replicate, meet } of decision.rejoins) {
      if (meet)
        await withSpecNode(node, async (c) => {
          for (const other of members) await c.call('CLUSTER', 'MEET', other.host, String(other.port));
        });
      await waitUntil(`${node.id} and ${replicate.id} to know each other`, () =>
        meshProblems([node, replicate], [node, replicate]),
      );
      const holderId = live.get(replicate.id)!.view!.myself.id;
      await withSpecNode(node, (c) => c.call('CLUSTER', 'REPLICATE', holderId));
      await waitUntil(
        `${node.id} to finish its sync from ${replicate.id}`,
        () =>
          withSpecNode(node, async (c) => {
            const info = parseInfo((await c.info('replication')) as string);
            return info.master_link_status === 'up'
              ? []
              : [`${node.id}: master_link_status ${info.master_link_status}`];
          }),
        { timeoutMs: 120_000 },
      );
      // A MEET to nodes it knows tells them its new role now rather than at the next gossip round.
      await withSpecNode(node, async (c) => {
        for (const other of members) await c.call('CLUSTER', 'MEET', other.host, String(other.port));
      });
      log.info('node rejoined', { node: node.id, replicates: replicate.id });
      changes.push({
        step: 'rejoinNodes',
        node: node.id,
        change: `${meet ? 'met the cluster and ' : ''}replicates ${replicate.id}`,
      });
    }
    return { changes };
  });
}

export async function restoreRoles(spec: ClusterSpec): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const { live, decision } = await decided(spec);
    const nodes = answeringNodes(spec, live);
    const changes: PlannedChange[] = [];
    for (const { node, from } of decision.failbacks) {
      await plannedFailover(node, from, nodeSlots(node), nodes);
      log.info('role restored', { master: node.id, from: from.id });
      changes.push({ step: 'restoreRoles', node: node.id, change: `took its slots back from ${from.id}` });
    }
    return { changes };
  });
}
