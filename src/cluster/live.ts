/**
 * The live nodes, read in one pass: what answers on each port, its cluster view, keys and nofailover settings.
 * Every step decides from this snapshot, and `rco plan` decides from the same snapshot, so they cannot disagree.
 */
import { readFile } from 'node:fs/promises';
import { type ClusterSpec, type NodeSpec, adminAddress, confFacts } from '../model';
import { keyspaceKeys, parseInfo } from '../redis/cluster-nodes';
import { PLAIN_ACCESS, probePort, withSpecNode } from '../redis/connection';
import { type NodeView, readViewWith } from '../redis/view';

export type PortState = { kind: 'free' } | { kind: 'redis' } | { kind: 'other'; reply: string };

export interface LiveNode {
  spec: NodeSpec;
  port: PortState;
  /** For a free port: whether its cluster bus port (port + 10000) is free too, as a node started there needs. */
  busFree?: boolean;
  /** The rest only for a running Redis. */
  clusterEnabled?: boolean;
  keys?: number;
  /** Its cluster view (cluster-enabled nodes). */
  view?: NodeView;
  /** `cluster-replica-no-failover`, live. */
  noFailoverLive?: boolean;
  /** The same in the node's config file; undefined when this machine cannot read that file. */
  noFailoverOnDisk?: boolean;
}

/** Node id -> live state. */
export type LiveCluster = Map<string, LiveNode>;

async function readRunning(live: LiveNode): Promise<void> {
  await withSpecNode(live.spec, async (client) => {
    const info = parseInfo((await client.info()) as string);
    live.clusterEnabled = info.cluster_enabled === '1';
    live.keys = keyspaceKeys(info);
    if (!live.clusterEnabled) return;
    live.view = await readViewWith(client);
    const [, noFailover] = (await client.call('CONFIG', 'GET', 'cluster-replica-no-failover')) as string[];
    live.noFailoverLive = noFailover === 'yes';
    const configFile = info.config_file;
    const text = configFile ? await readFile(configFile, 'utf8').catch(() => undefined) : undefined;
    // Unreadable here (the node's host is another machine): nofailover is set live and persisted together.
    live.noFailoverOnDisk = text !== undefined ? confFacts(text).replicaNoFailover : live.noFailoverLive;
  });
}

/** Reads every node of the spec (or of `nodes`); changes nothing. */
export async function readLiveCluster(spec: ClusterSpec, nodes: NodeSpec[] = spec.nodes): Promise<LiveCluster> {
  const states = await Promise.all(
    nodes.map(async (node): Promise<LiveNode> => {
      const probe = await probePort(adminAddress(node));
      if (probe.kind === 'other') return { spec: node, port: { kind: 'other', reply: probe.reply } };
      if (probe.kind === 'free') {
        const bus = await probePort({ ...adminAddress(node), port: node.port + 10000 }, 500, PLAIN_ACCESS);
        return { spec: node, port: { kind: 'free' }, busFree: bus.kind === 'free' };
      }
      const live: LiveNode = { spec: node, port: { kind: 'redis' } };
      await readRunning(live);
      return live;
    }),
  );
  return new Map(states.map((state) => [state.spec.id, state]));
}

/** Reads the views of running nodes only (the steps after startNodes: every node runs). */
export async function readViews(nodes: NodeSpec[]): Promise<Map<string, NodeView>> {
  const views = await Promise.all(nodes.map((node) => withSpecNode(node, readViewWith)));
  return new Map(nodes.map((node, i) => [node.id, views[i]!]));
}

/**
 * The cluster as it will be once the absent nodes are started from their configs: fresh, empty, alone, with the
 * nofailover setting their config gives. What `rco plan` decides the later steps from.
 */
export function withAbsentNodesStarted(live: LiveCluster, configs: Map<string, string>): LiveCluster {
  const projected: LiveCluster = new Map();
  for (const [id, state] of live) {
    if (state.port.kind !== 'free') {
      projected.set(id, state);
      continue;
    }
    const node = state.spec;
    const text = configs.get(id);
    const noFailover = text !== undefined && confFacts(text).replicaNoFailover;
    const myself = {
      id: `(new ${id})`,
      host: node.host,
      port: node.port,
      busPort: node.port + 10000,
      flags: ['myself', 'master'],
      role: 'master' as const,
      myself: true,
      configEpoch: 0,
      linkState: 'connected' as const,
      slots: [],
      handshake: false,
      noFailover,
      failing: false,
      openSlots: [],
    };
    projected.set(id, {
      spec: node,
      port: { kind: 'redis' },
      clusterEnabled: true,
      keys: 0,
      view: {
        clusterInfo: {
          cluster_known_nodes: '1',
          cluster_my_epoch: '0',
          cluster_current_epoch: '0',
          cluster_slots_assigned: '0',
        },
        nodes: [myself],
        myself,
      },
      noFailoverLive: noFailover,
      noFailoverOnDisk: noFailover,
    });
  }
  return projected;
}
