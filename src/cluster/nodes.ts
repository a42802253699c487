/**
 * Step 3 (startNodes): start every node that is not running; running Redis nodes are left alone. A node that lost
 * its data (no nodes.conf left) while the cluster still knows it is not started as it is: its replicas would
 * reconnect to its address and resync from an empty master, losing the data they hold. Provisioning refuses then;
 * a repair starts it only once its slots were taken over and its old id forgotten.
 */
import { hasClusterState, startRedisServer } from '../host/redis-server';
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  ErrorType,
  configPath,
  nodeLabel,
  serverOf,
} from '../model';
import { fail, log, withHeartbeat } from '../runtime/context';
import { decidePreflight, decideStarts, startChanges } from './decisions';
import { type LiveCluster, readLiveCluster } from './live';
import { refuse } from './preflight';

export interface StartNodesResult {
  changes: PlannedChange[];
  nodes: { node: string; action: 'started' | 'already-running' | 'held'; pid?: number }[];
}

/**
 * provision: a node that lost its data while the cluster knows it is refused. keep-lost: such nodes are held (the
 * repair starts them later); all: every node not running is started.
 */
export type StartMode = 'provision' | 'keep-lost' | 'all';

/** How a running node of the cluster knows the node at `node`'s address, if one does. */
function knownAs(node: NodeSpec, live: LiveCluster): string | undefined {
  for (const state of live.values()) {
    const nodes = state.view?.nodes ?? [];
    if (nodes.length < 2) continue;
    const line = nodes.find((l) => !l.myself && !l.handshake && l.host === node.host && l.port === node.port);
    if (line) return `${line.id.slice(0, 8)} (${line.flags.join(',')})`;
  }
  return undefined;
}

export async function startNodes(spec: ClusterSpec, mode: StartMode = 'provision'): Promise<StartNodesResult> {
  return withHeartbeat(async () => {
    const live = await readLiveCluster(spec);
    // Only what stops a start: something else on a node's port, or on the bus port of a node to start.
    refuse(decidePreflight(spec, live).refusals.filter((r) => r.type === 'PortNotRedis' || r.type === 'BusPortInUse'));
    const lost: { node: NodeSpec; knownAs: string }[] = [];
    if (mode !== 'all')
      for (const node of decideStarts(spec, live)) {
        const known = knownAs(node, live);
        if (known && !(await hasClusterState(configPath(spec, node)))) lost.push({ node, knownAs: known });
      }
    if (mode === 'provision' && lost.length > 0)
      fail(
        ErrorType.NodeLostData,
        lost
          .map(
            ({ node, knownAs }) =>
              `${nodeLabel(node)} is down and has no cluster state (nodes.conf) left, but the cluster still knows it as ${knownAs}: it lost its data; started empty, its replicas could resync from nothing. Run repairRedisCluster (rco repair), which takes its slots over first`,
          )
          .join('; '),
      );
    const starts = decideStarts(spec, live).filter((node) => !lost.some((l) => l.node === node));
    const pids = await Promise.all(
      starts.map((node) => startRedisServer(configPath(spec, node), node, serverOf(spec, node))),
    );
    const nodes = spec.nodes.map((node) => {
      const i = starts.indexOf(node);
      if (i >= 0) return { node: node.id, action: 'started' as const, pid: pids[i] };
      if (lost.some((l) => l.node === node)) {
        log.info('node lost its data; held until its old identity is gone', { node: node.id });
        return { node: node.id, action: 'held' as const };
      }
      log.info('node already running; left alone', { node: node.id });
      return { node: node.id, action: 'already-running' as const };
    });
    return { changes: startChanges(starts), nodes };
  });
}
