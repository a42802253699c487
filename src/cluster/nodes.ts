/** Step 3 (startNodes): start every node that is not running; running Redis nodes are left alone. */
import { startRedisServer } from '../host/redis-server';
import { type ClusterSpec, type PlannedChange, configPath } from '../model';
import { log, withHeartbeat } from '../runtime/context';
import { decidePreflight, decideStarts, startChanges } from './decisions';
import { readLiveCluster } from './live';
import { refuse } from './preflight';

export interface StartNodesResult {
  changes: PlannedChange[];
  nodes: { node: string; action: 'started' | 'already-running'; pid?: number }[];
}

export async function startNodes(spec: ClusterSpec): Promise<StartNodesResult> {
  return withHeartbeat(async () => {
    const live = await readLiveCluster(spec);
    // Only what stops a start: something else on a node's port, or on the bus port of a node to start.
    refuse(decidePreflight(spec, live).refusals.filter((r) => r.type === 'PortNotRedis' || r.type === 'BusPortInUse'));
    const starts = decideStarts(spec, live);
    const pids = await Promise.all(starts.map((node) => startRedisServer(configPath(spec, node), node)));
    const nodes = spec.nodes.map((node) => {
      const i = starts.indexOf(node);
      if (i >= 0) return { node: node.id, action: 'started' as const, pid: pids[i] };
      log.info('node already running; left alone', { node: node.id });
      return { node: node.id, action: 'already-running' as const };
    });
    return { changes: startChanges(starts), nodes };
  });
}
