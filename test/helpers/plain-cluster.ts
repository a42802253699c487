/** A bare 3-master Redis Cluster started by a test (no replicas, no orchestrator): a source, or a target to poke at. */
import Redis from 'ioredis';
import path from 'node:path';
import { SLOT_COUNT } from '../../src/model';
import { parseInfo } from '../../src/redis/cluster-nodes';
import { startTestRedis } from './servers';
import { freePortBlock } from './stack';
import { waitFor } from './wait';

/** The slots in `count` contiguous ranges of (nearly) equal size. */
function evenRanges(count: number): [number, number][] {
  return Array.from({ length: count }, (_, i) => [
    Math.floor((i * SLOT_COUNT) / count),
    Math.floor(((i + 1) * SLOT_COUNT) / count) - 1,
  ]);
}

/**
 * Cluster-enabled redis-servers under `dir` (stopped by stopTestServers), three unless told, the slots evenly split,
 * met and ok (of `server`: another binary setup links, e.g. valkey-server). Returns their ports and a connection to
 * each (the caller disconnects them).
 */
export async function startPlainCluster(
  dir: string,
  server = 'redis-server',
  args: string[] = [],
  count = 3,
): Promise<{ ports: number[]; nodes: Redis[] }> {
  const base = await freePortBlock(count);
  const ports = Array.from({ length: count }, (_, i) => base + i);
  const ranges = evenRanges(count);
  for (const port of ports) await startTestRedis(port, path.join(dir, `cluster-${port}`), args, server);
  const nodes = ports.map((port) => new Redis({ host: '127.0.0.1', port }));
  for (const [i, node] of nodes.entries())
    await node.call('CLUSTER', 'ADDSLOTSRANGE', String(ranges[i]![0]), String(ranges[i]![1]));
  for (const port of ports.slice(1)) await nodes[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(port));
  await waitFor(
    'the plain cluster to be ok',
    async () => {
      const states = await Promise.all(
        nodes.map(async (n) => parseInfo((await n.call('CLUSTER', 'INFO')) as string).cluster_state),
      );
      return states.every((s) => s === 'ok') ? true : undefined;
    },
    30_000,
  );
  return { ports, nodes };
}
