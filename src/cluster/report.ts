/** Step 8: check the live cluster against the spec, from every node's point of view, and report it. */
import { epochExpectation, readEpochRecord } from './epochs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseInfo, parseNodesConfVars } from '../redis/cluster-nodes';
import { withSpecNode } from '../redis/connection';
import { lineAt, readViewWith } from '../redis/view';
import { type ClusterSpec, ErrorType, SLOT_COUNT, describeRanges, nodeSlots, sameRanges } from '../model';
import { fail, waitUntil, withHeartbeat } from '../runtime/context';

export interface NodeReport {
  id: string;
  nodeId: string;
  address: string;
  role: 'master' | 'replica';
  /** Spec id of the master, for replicas. */
  replicaOf?: string;
  slots: string;
  flags: string[];
  configEpoch: number;
  currentEpoch: number;
  lastVoteEpoch?: number;
  clusterState: string;
  masterLinkStatus?: string;
  noFailover: boolean;
}

export interface ClusterReport {
  name: string;
  clusterState: string;
  currentEpoch: number;
  /** Why the epochs are past the spec's, when they are: the last change that moved them (epochs.ts). */
  epochsMovedBy?: string;
  slotsAssigned: number;
  nodes: NodeReport[];
  /** Replica id -> master id, as live. */
  mapping: Record<string, string>;
  problems: string[];
}

export interface VerifyOptions {
  /**
   * The epochs provisioning gives (currentEpoch = the number of masters, no vote cast), unless a recorded or visible
   * change moved them on (epochs.ts). False: agreeing epochs, whatever moved them (right after a repair). @default true
   */
  exactEpochs?: boolean;
}

/** Reads the cluster as it is and lists every difference from the spec. Reads only. */
export async function inspectCluster(
  spec: ClusterSpec,
  { exactEpochs = true }: VerifyOptions = {},
): Promise<ClusterReport> {
  const gathered = await Promise.all(
    spec.nodes.map((node) =>
      withSpecNode(node, async (client) => {
        const view = await readViewWith(client);
        const replication = parseInfo((await client.info('replication')) as string);
        const [, dir] = (await client.call('CONFIG', 'GET', 'dir')) as string[];
        const [, nodesFile] = (await client.call('CONFIG', 'GET', 'cluster-config-file')) as string[];
        // nodes.conf is the only place lastVoteEpoch shows; it is local to the node's host.
        const vars = parseNodesConfVars(
          await readFile(path.resolve(dir ?? '.', nodesFile ?? 'nodes.conf'), 'utf8').catch(() => ''),
        );
        return { node, view, replication, vars };
      }),
    ),
  );
  const idBySpec = new Map(gathered.map((g) => [g.node.id, g.view.myself.id]));
  const specByNodeId = new Map(gathered.map((g) => [g.view.myself.id, g.node.id]));
  const problems: string[] = [];
  const epochs = epochExpectation(
    spec,
    gathered.filter((g) => g.view.myself.role === 'master').map((g) => g.view.myself.configEpoch),
    await readEpochRecord(spec),
  );
  const exact = exactEpochs && epochs.exact;
  // Moved on by a failover, repair or slot move: every node must agree, and none fall below the spec.
  const wantEpoch = exact
    ? epochs.floor
    : Math.max(epochs.floor, ...gathered.map((g) => Number(g.view.clusterInfo.cluster_current_epoch)));

  for (const { node, view, replication, vars } of gathered) {
    const info = view.clusterInfo;
    const who = `${node.id} (${node.host}:${node.port})`;
    if (info.cluster_state !== 'ok') problems.push(`${who}: cluster_state ${info.cluster_state}`);
    if (info.cluster_slots_assigned !== String(SLOT_COUNT))
      problems.push(`${who}: ${info.cluster_slots_assigned} slots assigned, not ${SLOT_COUNT}`);
    if (Number(info.cluster_current_epoch) !== wantEpoch)
      problems.push(`${who}: cluster_current_epoch ${info.cluster_current_epoch}, expected ${wantEpoch}`);
    if (exact && vars.lastVoteEpoch !== undefined && vars.lastVoteEpoch !== 0)
      problems.push(`${who}: lastVoteEpoch ${vars.lastVoteEpoch} in nodes.conf, expected 0`);
    if (view.nodes.length !== spec.nodes.length)
      problems.push(`${who}: knows ${view.nodes.length} nodes, the spec has ${spec.nodes.length}`);
    if (node.role === 'replica' && replication.master_link_status !== 'up')
      problems.push(`${who}: master_link_status ${replication.master_link_status}`);
    // This node's view of every node must match the spec.
    for (const other of spec.nodes) {
      const line = lineAt(view, other.host, other.port);
      const seen = `${node.id} sees ${other.id}`;
      if (!line) {
        problems.push(`${seen}: missing`);
        continue;
      }
      if (line.id !== idBySpec.get(other.id))
        problems.push(`${seen} with id ${line.id}, not ${idBySpec.get(other.id)}`);
      if (line.role !== other.role) problems.push(`${seen} as ${line.role}, expected ${other.role}`);
      if (line.failing) problems.push(`${seen} as failing (${line.flags.join(',')})`);
      if (other.role === 'master' && !sameRanges(line.slots, nodeSlots(other)))
        problems.push(`${seen} owning ${describeRanges(line.slots)}, expected ${describeRanges(nodeSlots(other))}`);
      if (other.role === 'replica') {
        const wantMaster = idBySpec.get(other.replicaOf ?? '');
        if (line.masterId !== wantMaster)
          problems.push(
            `${seen} replicating ${specByNodeId.get(line.masterId ?? '') ?? line.masterId}, expected ${other.replicaOf}`,
          );
        if (line.slots.length > 0) problems.push(`${seen} owning slots ${describeRanges(line.slots)}`);
        if (spec.nofailover && !line.noFailover) problems.push(`${seen} without the nofailover flag`);
      }
    }
  }

  const nodes: NodeReport[] = gathered.map(({ node, view, replication, vars }) => ({
    id: node.id,
    nodeId: view.myself.id,
    address: `${node.host}:${node.port}`,
    role: view.myself.role,
    replicaOf: view.myself.masterId ? (specByNodeId.get(view.myself.masterId) ?? view.myself.masterId) : undefined,
    slots: describeRanges(view.myself.slots),
    flags: view.myself.flags,
    configEpoch: view.myself.configEpoch,
    currentEpoch: Number(view.clusterInfo.cluster_current_epoch),
    lastVoteEpoch: vars.lastVoteEpoch,
    clusterState: view.clusterInfo.cluster_state ?? 'unknown',
    masterLinkStatus: view.myself.role === 'replica' ? replication.master_link_status : undefined,
    noFailover: view.myself.noFailover,
  }));
  const first = gathered[0]?.view.clusterInfo;
  return {
    name: spec.name,
    clusterState: nodes.every((n) => n.clusterState === 'ok') ? 'ok' : 'fail',
    currentEpoch: Number(first?.cluster_current_epoch ?? 0),
    epochsMovedBy: exact ? undefined : (epochs.movedBy ?? 'a repair or failover'),
    slotsAssigned: Number(first?.cluster_slots_assigned ?? 0),
    nodes,
    mapping: Object.fromEntries(nodes.filter((n) => n.role === 'replica').map((n) => [n.id, n.replicaOf ?? '?'])),
    problems,
  };
}

/** Waits (gossip takes a moment) until the live cluster matches the spec; a lasting difference is a failure. */
export async function verifyCluster(
  spec: ClusterSpec,
  timeoutMs = 60_000,
  options: VerifyOptions = {},
): Promise<ClusterReport> {
  return withHeartbeat(async () => {
    let report: ClusterReport | undefined;
    try {
      await waitUntil(
        'the cluster to match the spec',
        async () => {
          report = await inspectCluster(spec, options);
          return report.problems;
        },
        { timeoutMs, intervalMs: 250 },
      );
    } catch {
      fail(
        ErrorType.VerifyFailed,
        `cluster ${spec.name} does not match the spec: ${(report?.problems ?? ['unreachable']).join('; ')}`,
        report,
      );
    }
    return report!;
  });
}
