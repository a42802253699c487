/**
 * What a repair must do to bring a live cluster back to its spec, decided from the spec and the live nodes only.
 * Pure: each repair step applies its part of this decision, read again just before it acts, and `rco plan --repair`
 * prints it. A master that answers is never taken over; a node id is forgotten only once it owns no slots, the
 * cluster flags it failed, and every node of the spec answers (so it cannot be one that is merely down).
 */
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  type Refusal,
  ErrorType,
  describeRanges,
  masters,
  nodeLabel,
  nodeSlots,
  replicas,
} from '../model';
import type { ClusterNodeLine } from '../redis/cluster-nodes';
import type { LiveCluster } from './live';

export interface Takeover {
  /** The replica that takes the slots (CLUSTER FAILOVER TAKEOVER), and the spec master whose slots they are. */
  replica: NodeSpec;
  master: NodeSpec;
  /** The node id that owns them and does not answer. */
  lostId: string;
  /** Answering masters that flag it `fail`, and how many are needed (a majority of the other masters). */
  flaggedBy: string[];
  needed: number;
}

export interface Forget {
  lostId: string;
  /** Where it was last seen ("" once the cluster found another node at its address). */
  lastAddress: string;
}

export interface Rejoin {
  /** A node of the spec that answers but is not in the cluster (it lost its data) or a master without slots. */
  node: NodeSpec;
  /** The node that holds its pair's slots now: it replicates that one. */
  replicate: NodeSpec;
  /** It must meet the cluster first (it knows no other node). */
  meet: boolean;
}

export interface Failback {
  /** A spec master that is a replica of its own replica: CLUSTER FAILOVER on it takes its slots back. */
  node: NodeSpec;
  from: NodeSpec;
}

export interface RepairDecision {
  /** Nodes that do not answer (their port is free): started from their config, keeping their data. */
  down: NodeSpec[];
  takeovers: Takeover[];
  forgets: Forget[];
  rejoins: Rejoin[];
  failbacks: Failback[];
  refusals: Refusal[];
}

/** The spec nodes of a master's pair: the master and its spec replicas. */
const pairOf = (spec: ClusterSpec, master: NodeSpec) => [
  master,
  ...replicas(spec).filter((r) => r.replicaOf === master.id),
];

const pairMaster = (spec: ClusterSpec, node: NodeSpec) =>
  node.role === 'master' ? node : spec.nodes.find((n) => n.id === node.replicaOf)!;

/** The id most answering nodes see owning `slot`. */
function ownerOf(lines: ClusterNodeLine[][], slot: number): string | undefined {
  const votes = new Map<string, number>();
  for (const nodes of lines) {
    const owner = nodes.find((n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (owner) votes.set(owner.id, (votes.get(owner.id) ?? 0) + 1);
  }
  return [...votes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** `held`: nodes that are down because they lost their data (startNodes held them): their old ids may go. */
export function decideRepair(spec: ClusterSpec, live: LiveCluster, held: string[] = []): RepairDecision {
  const decision: RepairDecision = { down: [], takeovers: [], forgets: [], rejoins: [], failbacks: [], refusals: [] };
  const answering = spec.nodes.filter((n) => live.get(n.id)?.view);
  decision.down = spec.nodes.filter((n) => live.get(n.id)?.port.kind === 'free');
  const viewOf = (node: NodeSpec) => live.get(node.id)?.view;
  const idOf = (node: NodeSpec) => viewOf(node)?.myself.id;
  const bySpecId = new Map(answering.map((n) => [idOf(n)!, n]));
  const lone = (node: NodeSpec) => viewOf(node)?.nodes.length === 1;
  // Only nodes in the cluster say who owns what: a lone node's view (a node that lost its data) does not count.
  const members = answering.filter((n) => !lone(n));
  const memberLines = members.map((n) => viewOf(n)!.nodes);

  const holders = new Map<string, NodeSpec>(); // spec master id -> the node holding its slots (now or after takeover)
  for (const master of masters(spec)) {
    const ranges = nodeSlots(master);
    const ownerId = ownerOf(memberLines, ranges[0]![0]);
    const holder = ownerId ? bySpecId.get(ownerId) : undefined;
    if (holder) {
      holders.set(master.id, holder);
      continue;
    }
    if (!ownerId) {
      decision.refusals.push({
        type: ErrorType.TopologyConflict,
        message: `no node owns slots ${describeRanges(ranges)} of ${nodeLabel(master)}; assigning slots is provisioning's job, not repair's`,
      });
      continue;
    }
    const candidate = pairOf(spec, master).find(
      (n) => viewOf(n)?.myself.role === 'replica' && viewOf(n)?.myself.masterId === ownerId,
    );
    if (!candidate) {
      decision.refusals.push({
        type: ErrorType.SlotsLost,
        message: `${nodeLabel(master)}: the node owning slots ${describeRanges(ranges)} (${ownerId.slice(0, 8)}) does not answer and no replica of it does; the data of these slots is only in a backup now`,
      });
      continue;
    }
    const otherMasters = members.filter(
      (n) => viewOf(n)!.myself.role === 'master' && viewOf(n)!.myself.slots.length > 0,
    );
    const flaggedBy = otherMasters
      .filter((n) => viewOf(n)!.nodes.some((l) => l.id === ownerId && l.flags.includes('fail')))
      .map((n) => n.id);
    decision.takeovers.push({
      replica: candidate,
      master,
      lostId: ownerId,
      flaggedBy,
      needed: Math.floor(otherMasters.length / 2) + 1,
    });
    holders.set(master.id, candidate);
  }

  // Ids the cluster knows that no node of the spec has now: nodes that came back without their data.
  const known = new Map<string, ClusterNodeLine>();
  for (const nodes of memberLines) for (const line of nodes) if (!line.handshake) known.set(line.id, line);
  const pendingTakeover = new Set(decision.takeovers.map((t) => t.lostId));
  for (const [id, line] of known) {
    if (bySpecId.has(id) || pendingTakeover.has(id)) continue;
    const failing = memberLines.some((nodes) => nodes.some((l) => l.id === id && l.flags.includes('fail')));
    const address = line.port ? `${line.host}:${line.port}` : '';
    if (!failing) {
      decision.refusals.push({
        type: ErrorType.TopologyConflict,
        message: `the cluster knows node ${id.slice(0, 8)}${address ? ` at ${address}` : ''}, which is no node of the spec and is not failing; take it out yourself or fix the spec`,
      });
      continue;
    }
    // While a node is only down, the id may be its own: decided once every node answers or was held as lost.
    if (decision.down.some((n) => !held.includes(n.id))) continue;
    decision.forgets.push({ lostId: id, lastAddress: address });
  }

  for (const node of answering) {
    const me = viewOf(node)!.myself;
    const holder = holders.get(pairMaster(spec, node).id);
    if (!holder || holder === node) continue;
    const keys = live.get(node.id)?.keys ?? 0;
    if (lone(node)) {
      if (keys > 0)
        decision.refusals.push({
          type: ErrorType.NodeNotEmpty,
          message: `${nodeLabel(node)} is not in the cluster and holds ${keys} key(s); the orchestrator never overwrites data: empty it yourself`,
        });
      else decision.rejoins.push({ node, replicate: holder, meet: true });
      continue;
    }
    if (me.role === 'master' && me.slots.length === 0 && node.role === 'master')
      decision.rejoins.push({ node, replicate: holder, meet: false });
  }

  for (const master of masters(spec)) {
    const holder = holders.get(master.id);
    if (!holder || holder === master) continue;
    const me = viewOf(master)?.myself;
    const willReplicate = decision.rejoins.some((r) => r.node === master);
    if (willReplicate || (me?.role === 'replica' && me.masterId === idOf(holder)))
      decision.failbacks.push({ node: master, from: holder });
  }
  return decision;
}

export function repairChanges(decision: RepairDecision): PlannedChange[] {
  return [
    ...decision.down.map((node) => ({
      step: 'startNodes' as const,
      node: node.id,
      change: `start redis-server on ${node.host}:${node.port} from its config (a node that lost its data: only once its old id is forgotten)`,
    })),
    ...decision.takeovers.map((t) => ({
      step: 'takeoverMasters' as const,
      node: t.replica.id,
      change: `CLUSTER FAILOVER TAKEOVER: take slots ${describeRanges(nodeSlots(t.master))} of ${t.master.id} (node ${t.lostId.slice(0, 8)}, unreachable, flagged fail by ${t.flaggedBy.length}/${t.needed} needed: ${t.flaggedBy.join(', ') || 'none yet'}) [needs approval: takeover]`,
    })),
    ...decision.forgets.map((f) => ({
      step: 'forgetLostNodes' as const,
      change: `CLUSTER FORGET ${f.lostId} on every node (a node that lost its data${f.lastAddress ? `, last at ${f.lastAddress}` : ''}) [needs approval: forget]`,
    })),
    ...decision.rejoins.map((r) => ({
      step: 'rejoinNodes' as const,
      node: r.node.id,
      change: `${r.meet ? 'meet the cluster and ' : ''}replicate ${r.replicate.id}`,
    })),
    ...decision.failbacks.map((f) => ({
      step: 'restoreRoles' as const,
      node: f.node.id,
      change: `CLUSTER FAILOVER: take its slots back from ${f.from.id}`,
    })),
  ];
}
