/** One node's view of the cluster, read in one round trip. */
import type Redis from 'ioredis';
import { type NodeView, lineAt, parseClusterNodes, parseInfo } from './cluster-nodes';
import { type NodeAddress, withNode } from './connection';

export { type NodeView, lineAt };

export async function readViewWith(client: Redis): Promise<NodeView> {
  const [info, nodesText] = await Promise.all([
    client.call('CLUSTER', 'INFO') as Promise<string>,
    client.call('CLUSTER', 'NODES') as Promise<string>,
  ]);
  const nodes = parseClusterNodes(nodesText);
  const myself = nodes.find((n) => n.myself);
  if (!myself) throw new Error('CLUSTER NODES has no "myself" line');
  return { clusterInfo: parseInfo(info), nodes, myself };
}

export function readView(address: NodeAddress): Promise<NodeView> {
  return withNode(address, readViewWith);
}
