/**
 * What each provisioning step must change, decided from the spec and the live nodes only. Pure: the step applies
 * exactly these changes, and `rco plan` prints them, so a plan is what the next run does.
 */
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  type Refusal,
  type SlotRange,
  ErrorType,
  checkNodeConfig,
  configPath,
  countSlots,
  describeRanges,
  masters,
  nodeLabel,
  nodeSlots,
  rangesFromSlots,
  replicas,
  sameRanges,
  subtractRanges,
} from '../model';
import { lineAt } from '../redis/cluster-nodes';
import type { LiveCluster, LiveNode } from './live';
import { liveSlotOwners } from './reshard';

export type NodeState = 'absent' | 'fresh' | 'member';

export interface InspectResult {
  node: string;
  state: NodeState;
  nodeId?: string;
  keys?: number;
  /** Something to fix before it bites (a port the kernel may give away first). */
  warning?: string;
}

const liveOf = (live: LiveCluster, node: NodeSpec): LiveNode => {
  const state = live.get(node.id);
  if (!state) throw new Error(`no live state read for node ${node.id}`);
  return state;
};

/** The addresses of the spec's nodes, and of those it takes out of the cluster (`remove`). */
function specAddresses(spec: ClusterSpec): Set<string> {
  const set = new Set<string>();
  for (const node of [...spec.nodes, ...spec.remove]) {
    set.add(`${node.host}:${node.port}`);
    if (node.adminHost) set.add(`${node.adminHost}:${node.port}`);
  }
  return set;
}

/** Refusals in the order the steps meet them: ports first, then what runs on them. */
export function firstRefusals(refusals: Refusal[]): Refusal[] {
  for (const type of [ErrorType.PortNotRedis, ErrorType.BusPortInUse]) {
    const group = refusals.filter((r) => r.type === type);
    if (group.length > 0) return group;
  }
  return refusals;
}

/**
 * The preflight: each node's state, and every reason to refuse the run before anything is written or started. A
 * node we must not touch (another cluster's, one holding data, something that is not Redis) is never touched.
 */
export function decidePreflight(
  spec: ClusterSpec,
  live: LiveCluster,
): { results: InspectResult[]; refusals: Refusal[] } {
  const refusals: Refusal[] = [];
  const known = specAddresses(spec);
  const results = spec.nodes.map((node): InspectResult => {
    const state = liveOf(live, node);
    const label = nodeLabel(node);
    if (state.port.kind === 'other') {
      refusals.push({
        type: ErrorType.PortNotRedis,
        message: `${label}: port ${node.port} is held by something that is not Redis (it answered ${JSON.stringify(state.port.reply)} to PING); free the port or change the spec`,
      });
      return { node: node.id, state: 'absent' };
    }
    if (state.port.kind === 'free') {
      if (state.busFree === false)
        refusals.push({
          type: ErrorType.BusPortInUse,
          message: `${label}: its cluster bus port ${node.port + 10000} is held by another process (the node is not running); free that port or give the node another port`,
        });
      return { node: node.id, state: 'absent' };
    }
    if (!state.clusterEnabled || !state.view) {
      refusals.push({
        type: ErrorType.NodeNotClusterEnabled,
        message: `${label} is a Redis without cluster support (cluster_enabled:0); stop it or start it with "cluster-enabled yes"`,
      });
      return { node: node.id, state: 'fresh' };
    }
    const view = state.view;
    const strangers = view.nodes.filter((n) => !n.myself && !known.has(`${n.host}:${n.port}`));
    if (strangers.length > 0)
      refusals.push({
        type: ErrorType.NodeInOtherCluster,
        message: `${label} already belongs to another cluster: it knows ${strangers.map((n) => `${n.host}:${n.port} (${n.id.slice(0, 8)})`).join(', ')}, which the spec does not name; if they are nodes of this cluster to take out, list them under "remove"; otherwise take ${node.id} out of that cluster yourself (CLUSTER RESET after saving its data) or fix the spec`,
      });
    // A lone node is never ours with data in it: Redis even claims the slots of keys it loads at start, so owning
    // slots proves nothing. Only a node that already knows the other nodes of the spec is a member.
    const member = view.nodes.length > 1 || (spec.nodes.length === 1 && sameRanges(view.myself.slots, nodeSlots(node)));
    const keys = state.keys ?? 0;
    if (!member && keys > 0)
      refusals.push({
        type: ErrorType.NodeNotEmpty,
        message: `${label} holds ${keys} key(s) and is not part of cluster ${spec.name}; the orchestrator never overwrites data: empty the node yourself or give the spec another port`,
      });
    // A member's slots that the spec gives to other masters are moved to them (moveSlots); a lone node's are not ours.
    if (node.role === 'master') {
      const foreign = member ? [] : subtractRanges(view.myself.slots, nodeSlots(node));
      if (foreign.length > 0)
        refusals.push({
          type: ErrorType.SlotConflict,
          message: `${label} owns slots ${describeRanges(foreign)}, which the spec gives to other masters; move them yourself or fix the spec`,
        });
    } else if (view.myself.slots.length > 0) refusals.push(replicaOwnsSlots(node, view.myself.slots));
    return { node: node.id, nodeId: view.myself.id, state: member ? 'member' : 'fresh', keys };
  });
  return { results, refusals };
}

function replicaOwnsSlots(node: NodeSpec, slots: readonly SlotRange[]): Refusal {
  return {
    type: ErrorType.TopologyConflict,
    message: `${nodeLabel(node)} owns slots ${describeRanges(slots)}, but the spec makes it a replica, which owns none; move the slots away yourself or fix the spec`,
  };
}

/** Nodes whose port is free: they are started from their config. */
export function decideStarts(spec: ClusterSpec, live: LiveCluster): NodeSpec[] {
  return spec.nodes.filter((node) => liveOf(live, node).port.kind === 'free');
}

export const startChanges = (nodes: NodeSpec[]): PlannedChange[] =>
  nodes.map((node) => ({
    step: 'startNodes',
    node: node.id,
    change: `start redis-server on ${node.host}:${node.port}`,
  }));

export interface SlotAssignment {
  node: NodeSpec;
  ranges: SlotRange[];
}

/**
 * Slots each master must add: what the spec gives it and nobody owns. A slot another master of the cluster owns is
 * moved (moveSlots), never assigned twice.
 */
export function decideSlots(spec: ClusterSpec, live: LiveCluster): { adds: SlotAssignment[]; refusals: Refusal[] } {
  const owners = liveSlotOwners(spec, live);
  const owned = rangesFromSlots(owners.keys());
  const adds: SlotAssignment[] = [];
  for (const node of masters(spec)) {
    const view = liveOf(live, node).view;
    const missing = subtractRanges(subtractRanges(nodeSlots(node), view?.myself.slots ?? []), owned);
    if (missing.length > 0) adds.push({ node, ranges: missing });
  }
  return { adds, refusals: [] };
}

export const slotChanges = (adds: SlotAssignment[]): PlannedChange[] =>
  adds.map(({ node, ranges }) => ({
    step: 'assignSlots',
    node: node.id,
    change: `add slots ${describeRanges(ranges)} (${countSlots(ranges)} slots)`,
  }));

export interface Forming {
  /** Masters that still know nobody get config epochs 1..N, in spec order. */
  epochs: { node: NodeSpec; epoch: number }[];
  /** Each master meets the masters it does not know. */
  meets: { node: NodeSpec; others: NodeSpec[] }[];
}

export function decideForming(spec: ClusterSpec, live: LiveCluster): Forming {
  const ms = masters(spec);
  const forming: Forming = { epochs: [], meets: [] };
  ms.forEach((node, index) => {
    const view = liveOf(live, node).view;
    const info = view?.clusterInfo ?? {};
    if (info.cluster_known_nodes === '1' && info.cluster_my_epoch === '0' && info.cluster_current_epoch === '0')
      forming.epochs.push({ node, epoch: index + 1 });
    const others = ms.filter((other) => other !== node && !(view && lineAt(view, other.host, other.port)));
    if (others.length > 0) forming.meets.push({ node, others });
  });
  return forming;
}

export const formChanges = (forming: Forming): PlannedChange[] => [
  ...forming.epochs.map(({ node, epoch }) => ({
    step: 'formCluster' as const,
    node: node.id,
    change: `set config epoch ${epoch}`,
  })),
  ...forming.meets.map(({ node, others }) => ({
    step: 'formCluster' as const,
    node: node.id,
    change: `meet ${others.map((o) => o.id).join(', ')}`,
  })),
];

/** Replicas that do not replicate their spec master yet; a replica owning slots is refused. */
export function decideReplication(spec: ClusterSpec, live: LiveCluster): { attach: NodeSpec[]; refusals: Refusal[] } {
  const attach: NodeSpec[] = [];
  const refusals: Refusal[] = [];
  for (const replica of replicas(spec)) {
    const master = spec.nodes.find((n) => n.id === replica.replicaOf)!;
    const me = liveOf(live, replica).view?.myself;
    const masterId = liveOf(live, master).view?.myself.id;
    if (me && masterId && me.role === 'replica' && me.masterId === masterId) continue;
    if (me && me.slots.length > 0) refusals.push(replicaOwnsSlots(replica, me.slots));
    else attach.push(replica);
  }
  return { attach, refusals };
}

export const replicateChanges = (spec: ClusterSpec, attach: NodeSpec[]): PlannedChange[] =>
  attach.map((replica) => ({ step: 'replicateNodes', node: replica.id, change: `replicate ${replica.replicaOf}` }));

export interface NoFailoverChanges {
  /** `CONFIG SET cluster-replica-no-failover yes`. */
  set: NodeSpec[];
  /** `CONFIG REWRITE`: the config file lacks it. */
  persist: NodeSpec[];
}

export function decideNoFailover(spec: ClusterSpec, live: LiveCluster): NoFailoverChanges {
  if (!spec.nofailover) return { set: [], persist: [] };
  const rs = replicas(spec);
  return {
    set: rs.filter((r) => !liveOf(live, r).noFailoverLive),
    persist: rs.filter((r) => !liveOf(live, r).noFailoverOnDisk),
  };
}

export const noFailoverChanges = ({ set, persist }: NoFailoverChanges): PlannedChange[] => [
  ...set.map((r) => ({ step: 'setNoFailover' as const, node: r.id, change: 'set cluster-replica-no-failover yes' })),
  ...persist.map((r) => ({ step: 'setNoFailover' as const, node: r.id, change: 'persist it with CONFIG REWRITE' })),
];

export interface ConfigDecision {
  /** Configs that do not fit their node or the spec: the step writes none at all then. */
  refusals: Refusal[];
  /** Nodes whose config file is written: it differs from its source and the node is not running. */
  writes: NodeSpec[];
  results: { node: string; action: 'written' | 'unchanged' | 'kept-running-node'; notes: string[] }[];
}

/**
 * Which config files to write: `sources` are the texts the spec's sources give, `onDisk` what each node's file holds
 * now (undefined: no file). A running node owns its config file (CONFIG REWRITE changes it): never written under it.
 */
export function decideConfigs(
  spec: ClusterSpec,
  sources: Map<string, string>,
  onDisk: Map<string, string | undefined>,
  running: (node: NodeSpec) => boolean,
): ConfigDecision {
  const decision: ConfigDecision = { refusals: [], writes: [], results: [] };
  const problems: string[] = [];
  for (const node of spec.nodes) {
    const text = sources.get(node.id);
    if (text === undefined) continue;
    const checked = checkNodeConfig(spec, node, text);
    problems.push(...checked.errors);
    const existing = onDisk.get(node.id);
    const action =
      existing === text ? 'unchanged' : existing !== undefined && running(node) ? 'kept-running-node' : 'written';
    if (action === 'written') decision.writes.push(node);
    decision.results.push({ node: node.id, action, notes: checked.notes });
  }
  if (problems.length > 0) decision.refusals.push({ type: ErrorType.ConfigInvalid, message: problems.join('; ') });
  return decision;
}

export const configChanges = (spec: ClusterSpec, writes: NodeSpec[]): PlannedChange[] =>
  writes.map((node) => ({
    step: 'fetchConfigs',
    node: node.id,
    change: `write ${configPath(spec, node)} from ${node.config}`,
  }));
