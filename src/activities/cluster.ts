/** Steps 4-7: check the nodes, form the cluster, assign slots, replicate, set nofailover. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { keyspaceKeys, parseInfo } from '../redis/cluster-nodes';
import { withNode } from '../redis/connection';
import { type NodeView, lineAt, readView } from '../redis/view';
import {
  type ClusterSpec,
  type ErrorTypeName,
  type NodeSpec,
  ErrorType,
  SLOT_COUNT,
  adminAddress,
  confFacts,
  countSlots,
  describeRanges,
  intersectRanges,
  masters,
  nodeLabel,
  nodeSlots,
  replicas,
  sameRanges,
  subtractRanges,
} from '../spec';
import { checkPorts } from './nodes';
import { fail, log, waitUntil, withHeartbeat } from './support';

export type NodeState = 'absent' | 'fresh' | 'member';

export interface InspectResult {
  node: string;
  state: NodeState;
  nodeId?: string;
  keys?: number;
}

function specAddresses(spec: ClusterSpec): Set<string> {
  const set = new Set<string>();
  for (const node of spec.nodes) {
    set.add(`${node.host}:${node.port}`);
    if (node.adminHost) set.add(`${node.adminHost}:${node.port}`);
  }
  return set;
}

export type Refusal = { type: ErrorTypeName; message: string };

async function inspectRunningNode(spec: ClusterSpec, node: NodeSpec, refusals: Refusal[]): Promise<InspectResult> {
  return withNode(adminAddress(node), async (client) => {
    const info = parseInfo((await client.info()) as string);
    if (info.cluster_enabled !== '1') {
      refusals.push({
        type: ErrorType.NodeNotClusterEnabled,
        message: `${nodeLabel(node)} is a Redis without cluster support (cluster_enabled:0); stop it or start it with "cluster-enabled yes"`,
      });
      return { node: node.id, state: 'fresh' };
    }
    const view = await readView(adminAddress(node));
    const known = specAddresses(spec);
    const strangers = view.nodes.filter((n) => !n.myself && !known.has(`${n.host}:${n.port}`));
    if (strangers.length > 0) {
      const list = strangers.map((n) => `${n.host}:${n.port} (${n.id.slice(0, 8)})`).join(', ');
      refusals.push({
        type: ErrorType.NodeInOtherCluster,
        message: `${nodeLabel(node)} already belongs to another cluster: it knows ${list}, which the spec does not name; take it out of that cluster yourself (CLUSTER RESET after saving its data) or fix the spec`,
      });
    }
    // A lone node is never ours with data in it: Redis even claims the slots of keys it loads at start, so
    // owning slots proves nothing. Only a node that already knows the other nodes of the spec is a member.
    const member = view.nodes.length > 1 || (spec.nodes.length === 1 && sameRanges(view.myself.slots, nodeSlots(node)));
    const keys = keyspaceKeys(info);
    if (!member && keys > 0) {
      refusals.push({
        type: ErrorType.NodeNotEmpty,
        message: `${nodeLabel(node)} holds ${keys} key(s) and is not part of cluster ${spec.name}; the orchestrator never overwrites data: empty the node yourself or give the spec another port`,
      });
    }
    if (node.role === 'master' && view.myself.slots.length > 0) {
      const foreign = subtractRanges(view.myself.slots, nodeSlots(node));
      if (foreign.length > 0)
        refusals.push({
          type: ErrorType.SlotConflict,
          message: `${nodeLabel(node)} owns slots ${describeRanges(foreign)}, which the spec gives to other masters; move them yourself or fix the spec`,
        });
    }
    return { node: node.id, nodeId: view.myself.id, state: member ? 'member' : 'fresh', keys };
  });
}

/** Each node's state, and what would make the run refuse it; reads only. */
export async function inspectAll(spec: ClusterSpec): Promise<{ results: InspectResult[]; refusals: Refusal[] }> {
  const ports = await checkPorts(spec);
  const refusals: Refusal[] = [];
  const results = await Promise.all(
    spec.nodes.map((node) =>
      ports.get(node.id) === 'free'
        ? Promise.resolve<InspectResult>({ node: node.id, state: 'absent' })
        : inspectRunningNode(spec, node, refusals),
    ),
  );
  return { results, refusals };
}

/**
 * Preflight: every port is free or held by a cluster-enabled Redis that is either fresh and empty, or already
 * part of this cluster. Reads only; refuses, naming every offending node, before anything is written anywhere.
 */
export async function inspectNodes(spec: ClusterSpec): Promise<InspectResult[]> {
  const { results, refusals } = await inspectAll(spec);
  const first = refusals[0];
  if (first) fail(first.type, refusals.map((r) => r.message).join('; '));
  log.info('nodes inspected', { states: Object.fromEntries(results.map((r) => [r.node, r.state])) });
  return results;
}

async function viewsOf(nodes: NodeSpec[]): Promise<Map<string, NodeView>> {
  const views = await Promise.all(nodes.map((node) => readView(adminAddress(node))));
  return new Map(nodes.map((node, i) => [node.id, views[i]!]));
}

/** Problems with "every node in `among` knows every node in `nodes`, handshakes done". */
async function meshProblems(among: NodeSpec[], nodes: NodeSpec[]): Promise<string[]> {
  const views = await viewsOf(among);
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

export interface FormResult {
  epochsSet: string[];
  met: string[];
}

/**
 * After the slots: masters get config epochs 1..N (only while they still know nobody, as Redis requires) and meet each other.
 * Replicas join later, one at a time (see replicateNodes), so that no epoch collision bumps currentEpoch.
 */
export async function formCluster(spec: ClusterSpec): Promise<FormResult> {
  return withHeartbeat(async () => {
    const ms = masters(spec);
    const result: FormResult = { epochsSet: [], met: [] };
    for (const [index, node] of ms.entries()) {
      await withNode(adminAddress(node), async (client) => {
        const info = parseInfo((await client.call('CLUSTER', 'INFO')) as string);
        if (info.cluster_known_nodes === '1' && info.cluster_my_epoch === '0' && info.cluster_current_epoch === '0') {
          await client.call('CLUSTER', 'SET-CONFIG-EPOCH', String(index + 1));
          result.epochsSet.push(node.id);
          log.info('config epoch set', { node: node.id, epoch: index + 1 });
        }
      });
    }
    // Every master meets every other directly: handshakes finish in one round trip instead of waiting for gossip.
    const views = await viewsOf(ms);
    for (const node of ms) {
      const view = views.get(node.id)!;
      const unknown = ms.filter((other) => other !== node && !lineAt(view, other.host, other.port));
      if (unknown.length === 0) continue;
      await withNode(adminAddress(node), async (client) => {
        for (const other of unknown) await client.call('CLUSTER', 'MEET', other.host, String(other.port));
      });
      result.met.push(...unknown.map((other) => `${node.id}->${other.id}`));
      log.info('cluster meet', { from: node.id, to: unknown.map((o) => o.id) });
    }
    await waitUntil('the masters to know each other', () => meshProblems(ms, ms));
    await waitUntil('every master to see all 16384 slots assigned', async () => {
      const after = await viewsOf(ms);
      return ms.flatMap((node) => {
        const assigned = after.get(node.id)!.clusterInfo.cluster_slots_assigned;
        return assigned === String(SLOT_COUNT) ? [] : [`${node.id}: cluster_slots_assigned ${assigned}`];
      });
    });
    return result;
  });
}

export interface AssignResult {
  added: { node: string; slots: string }[];
}

/**
 * ADDSLOTSRANGE for the slots each master should own and does not; a slot owned elsewhere is a conflict.
 * Runs before the masters meet (as redis-cli does), so the first handshake carries the slots and no gossip
 * round has to be waited for.
 */
export async function assignSlots(spec: ClusterSpec): Promise<AssignResult> {
  return withHeartbeat(async () => {
    const ms = masters(spec);
    const views = await viewsOf(ms);
    const plan: { node: NodeSpec; missing: ReturnType<typeof nodeSlots> }[] = [];
    const conflicts: string[] = [];
    for (const node of ms) {
      const view = views.get(node.id)!;
      const wanted = nodeSlots(node);
      for (const other of view.nodes) {
        if (other.myself || other.role !== 'master') continue;
        const clash = intersectRanges(other.slots, wanted);
        if (clash.length > 0)
          conflicts.push(
            `slots ${describeRanges(clash)} of ${nodeLabel(node)} are owned by ${other.host}:${other.port} (${other.id.slice(0, 8)})`,
          );
      }
      const missing = subtractRanges(wanted, view.myself.slots);
      if (missing.length > 0) plan.push({ node, missing });
    }
    if (conflicts.length > 0) fail(ErrorType.SlotConflict, `${conflicts.join('; ')}; nothing was assigned`);

    const result: AssignResult = { added: [] };
    for (const { node, missing } of plan) {
      await withNode(adminAddress(node), (client) =>
        client.call('CLUSTER', 'ADDSLOTSRANGE', ...missing.flatMap(([s, e]) => [String(s), String(e)])),
      );
      result.added.push({ node: node.id, slots: describeRanges(missing) });
      log.info('slots assigned', { node: node.id, slots: describeRanges(missing), count: countSlots(missing) });
    }
    return result;
  });
}

export interface ReplicateResult {
  attached: string[];
  alreadyReplicating: string[];
}

async function nodeIdOf(node: NodeSpec): Promise<string> {
  return withNode(adminAddress(node), async (client) => (await client.call('CLUSTER', 'MYID')) as string);
}

/** Each replica meets its master and replicates it before the next one joins; then all links must be up. */
export async function replicateNodes(spec: ClusterSpec): Promise<ReplicateResult> {
  return withHeartbeat(async () => {
    const result: ReplicateResult = { attached: [], alreadyReplicating: [] };
    const attachedOrDone = new Set<string>();
    for (const replica of replicas(spec)) {
      const master = spec.nodes.find((n) => n.id === replica.replicaOf)!;
      const masterId = await nodeIdOf(master);
      const view = await readView(adminAddress(replica));
      if (view.myself.role === 'replica' && view.myself.masterId === masterId) {
        result.alreadyReplicating.push(replica.id);
        attachedOrDone.add(replica.id);
        continue;
      }
      if (view.myself.slots.length > 0)
        fail(
          ErrorType.TopologyConflict,
          `${nodeLabel(replica)} owns slots ${describeRanges(view.myself.slots)}; a replica must own none`,
        );
      // Meet the master and every node already in the cluster directly (no waiting on gossip). Only one
      // epoch-0 master (this replica) joins at a time, so no config epoch collision can bump currentEpoch.
      const joined = spec.nodes.filter(
        (n) => n !== replica && (n.role === 'master' || attachedOrDone.has(n.id)) && !lineAt(view, n.host, n.port),
      );
      if (joined.length > 0) {
        await withNode(adminAddress(replica), async (c) => {
          for (const n of joined) await c.call('CLUSTER', 'MEET', n.host, String(n.port));
        });
        log.info('cluster meet', { from: replica.id, to: joined.map((n) => n.id) });
      }
      await waitUntil(`${replica.id} and ${master.id} to know each other`, () =>
        meshProblems([replica, master], [replica, master]),
      );
      await withNode(adminAddress(replica), (c) => c.call('CLUSTER', 'REPLICATE', masterId));
      log.info('replica attached', { replica: replica.id, master: master.id, masterId });
      result.attached.push(replica.id);
      attachedOrDone.add(replica.id);
      await waitUntil(`${replica.id} to become a replica of ${master.id}`, async () => {
        const me = (await readView(adminAddress(replica))).myself;
        return me.role === 'replica' && me.masterId === masterId
          ? []
          : [`${replica.id} is still ${me.flags.join(',')}`];
      });
    }
    // Nodes learn a replica's new role and flags from the packets it sends, which gossip alone delivers within
    // ~cluster-node-timeout/2. A MEET to a node it already knows is such a packet, right now: the receiver
    // updates the replica's role, master and nofailover flag, and the transient handshake entry is dropped.
    for (const replica of replicas(spec).filter((r) => result.attached.includes(r.id))) {
      await withNode(adminAddress(replica), async (c) => {
        for (const n of spec.nodes) if (n !== replica) await c.call('CLUSTER', 'MEET', n.host, String(n.port));
      });
    }
    await waitUntil(
      'every replica to finish its sync (master_link_status:up)',
      async () => {
        const states = await Promise.all(
          replicas(spec).map((r) =>
            withNode(adminAddress(r), async (c) => parseInfo((await c.info('replication')) as string)),
          ),
        );
        return replicas(spec).flatMap((r, i) =>
          states[i]!.master_link_status === 'up'
            ? []
            : [`${r.id}: master_link_status ${states[i]!.master_link_status}`],
        );
      },
      { timeoutMs: 120_000 },
    );
    return result;
  });
}

export interface NoFailoverResult {
  set: string[];
  persisted: string[];
  alreadySet: string[];
}

/** `cluster-replica-no-failover yes` on every replica, live and in its config file, and seen by every node. */
export async function setNoFailover(spec: ClusterSpec): Promise<NoFailoverResult> {
  return withHeartbeat(async () => {
    const result: NoFailoverResult = { set: [], persisted: [], alreadySet: [] };
    if (!spec.nofailover) return result;
    for (const replica of replicas(spec)) {
      await withNode(adminAddress(replica), async (client) => {
        const [, live] = (await client.call('CONFIG', 'GET', 'cluster-replica-no-failover')) as string[];
        const configFile = parseInfo((await client.info('server')) as string).config_file ?? '';
        const onDisk = configFile ? confFacts(await readFile(configFile, 'utf8')).replicaNoFailover : true;
        if (live !== 'yes') {
          await client.call('CONFIG', 'SET', 'cluster-replica-no-failover', 'yes');
          result.set.push(replica.id);
        }
        if (!onDisk) {
          await client.call('CONFIG', 'REWRITE');
          result.persisted.push(replica.id);
          log.info('nofailover persisted with CONFIG REWRITE', {
            node: replica.id,
            configFile: path.basename(configFile),
          });
        }
        if (live === 'yes' && onDisk) result.alreadySet.push(replica.id);
      });
    }
    // Each replica must show the flag itself; the verify step waits until gossip has carried it to every node.
    await waitUntil('every replica to show the nofailover flag', async () => {
      const views = await viewsOf(replicas(spec));
      return replicas(spec).flatMap((r) => (views.get(r.id)!.myself.noFailover ? [] : [`${r.id} lacks nofailover`]));
    });
    return result;
  });
}
