/** The failover workflow's steps: one master's role to its spec replica, planned or (force) a takeover. */
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  ErrorType,
  describeRanges,
  nodeLabel,
  nodeSlots,
  replicas,
} from '../model';
import { fail, log, waitUntil, withHeartbeat } from '../runtime/context';
import type { StepChanges } from './form';
import { type LiveCluster, readLiveCluster } from './live';
import { decideRepair, repairChanges } from './repair-decisions';
import { answeringNodes, clusterOk, plannedFailover, takeOver } from './roles';

export interface FailoverRequest {
  /** The spec id of the master whose role moves to its replica. */
  master: string;
  /** Take over a master that does not answer (CLUSTER FAILOVER TAKEOVER), once most masters flag it failed. */
  force?: boolean;
}

export interface FailoverPlan {
  changes: PlannedChange[];
  /** For a forced failover: the lost node id a takeover approval covers. */
  takeover?: string;
}

function masterOf(spec: ClusterSpec, id: string): NodeSpec {
  const master = spec.nodes.find((n) => n.id === id);
  if (!master || master.role !== 'master')
    fail(ErrorType.InvalidSpec, `failover.master: ${JSON.stringify(id)} is not a master of cluster ${spec.name}`);
  if (!replicas(spec).some((r) => r.replicaOf === id))
    fail(ErrorType.InvalidSpec, `failover.master: ${id} has no replica in the spec to take its role`);
  return master;
}

/** What a failover would do; refuses a takeover of a master that answers. Reads only. */
export async function planFailover(spec: ClusterSpec, request: FailoverRequest): Promise<FailoverPlan> {
  const master = masterOf(spec, request.master);
  const live = await readLiveCluster(spec);
  const decision = decideRepair(spec, live);
  const slots = describeRanges(nodeSlots(master));
  const me = live.get(master.id)?.view?.myself;
  if (request.force) {
    const takeover = decision.takeovers.find((t) => t.master === master);
    if (!takeover) {
      if (me?.role === 'master' && me.slots.length > 0)
        fail(
          ErrorType.TakeoverRefused,
          `${nodeLabel(master)} answers and owns slots ${describeRanges(me.slots)}: a master that answers is never taken over; a planned failover (without force) moves its role safely`,
        );
      fail(
        ErrorType.TakeoverRefused,
        `${nodeLabel(master)}: its slots ${slots} are not held by a lost node; nothing to take over`,
      );
    }
    return {
      changes: repairChanges({ ...decision, down: [], forgets: [], rejoins: [], failbacks: [], takeovers: [takeover] }),
      takeover: takeover.lostId,
    };
  }
  if (!me || me.role !== 'master' || me.slots.length === 0) {
    if (me?.role === 'replica') return { changes: [] }; // already moved to its replica
    fail(
      ErrorType.TakeoverRefused,
      `${nodeLabel(master)} does not answer as the master of slots ${slots}; a planned failover needs it (a forced one takes over a master that is down)`,
    );
  }
  const replica = inSyncReplica(spec, live, master);
  return {
    changes: [
      { step: 'failover', node: replica.id, change: `CLUSTER FAILOVER: take slots ${slots} from ${master.id}` },
    ],
  };
}

function inSyncReplica(spec: ClusterSpec, live: LiveCluster, master: NodeSpec): NodeSpec {
  const masterId = live.get(master.id)?.view?.myself.id;
  const replica = replicas(spec).find(
    (r) => r.replicaOf === master.id && live.get(r.id)?.view?.myself.masterId === masterId,
  );
  if (!replica)
    fail(
      ErrorType.TopologyConflict,
      `${nodeLabel(master)}: no spec replica of it answers as its replica; nothing can take its role`,
    );
  return replica;
}

/** Step failover: a planned failover to the spec replica, or (force) the approved takeover. */
export async function failoverMaster(
  spec: ClusterSpec,
  request: FailoverRequest,
  approvedTakeover?: string,
): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const master = masterOf(spec, request.master);
    const live = await readLiveCluster(spec);
    if (request.force) {
      const takeover = decideRepair(spec, live).takeovers.find((t) => t.master === master);
      if (!takeover) {
        const holder = replicas(spec).find(
          (r) => r.replicaOf === master.id && live.get(r.id)?.view?.myself.slots.length,
        );
        if (holder) return { changes: [] }; // taken over already (this step ran before)
        await planFailover(spec, request); // refuses with the reason
        return { changes: [] };
      }
      if (takeover.lostId !== approvedTakeover)
        fail(
          ErrorType.TakeoverRefused,
          `${nodeLabel(master)}: node ${takeover.lostId.slice(0, 8)} was not the one approved`,
        );
      const change = await takeOver(spec, takeover);
      await waitUntil('every node to report cluster_state ok', () => clusterOk(answeringNodes(spec, live)));
      return { changes: [{ ...change, step: 'failover' }] };
    }
    const me = live.get(master.id)?.view?.myself;
    if (me?.role === 'replica') return { changes: [] }; // done before this step was cut off
    const replica = inSyncReplica(spec, live, master);
    await plannedFailover(replica, master, nodeSlots(master), answeringNodes(spec, live));
    log.info('planned failover', { master: master.id, replica: replica.id });
    return {
      changes: [
        {
          step: 'failover',
          node: replica.id,
          change: `took slots ${describeRanges(nodeSlots(master))} from ${master.id}`,
        },
      ],
    };
  });
}
