/**
 * Which source node a live sync reads, and which one takes the writes. Usually the same node: the shard's master. A
 * Sentinel source's master is asked of the Sentinels each time. A standalone or cluster master that failed over (its
 * replica promoted, itself made a replica of it) still streams the same offsets (PSYNC2), so the sync goes on through
 * it; but the writes now land on the new master, and that is the node a cutover must hold.
 */
import type Redis from 'ioredis';
import { type ClusterSpec, ErrorType } from '../model';
import { parseInfo } from '../redis/cluster-nodes';
import type { NodeAddress } from '../redis/connection';
import { fail } from '../runtime/context';
import { connectSource, migrationOf, sentinelMaster } from './sources';

/** A source master, read as one replica. `id` names it for good: "host:port", or the Sentinel's master name. */
export interface LiveShard {
  id: string;
  host: string;
  port: number;
}

export const addressText = (node: NodeAddress) => `${node.host}:${node.port}`;

/** The node the shard's stream is read from now: the Sentinels' master, or the shard's own node. */
export async function streamNodeOf(spec: ClusterSpec, shard: LiveShard): Promise<NodeAddress> {
  const source = migrationOf(spec).source;
  if (source.type === 'sentinel') return sentinelMaster(source);
  return { host: shard.host, port: shard.port };
}

/** A node's replication role, from INFO replication. */
export async function roleOf(client: Redis): Promise<{ master: boolean; masterAddress?: NodeAddress }> {
  const info = parseInfo((await client.info('replication')) as string);
  if (info.role === 'master') return { master: true };
  return { master: false, masterAddress: { host: info.master_host ?? '', port: Number(info.master_port ?? 0) } };
}

/** What a source says of its replication: its offset and its backlog's size. */
export async function replicationOffsetOf(client: Redis): Promise<{ offset: number; backlog: number }> {
  const info = parseInfo((await client.info('replication')) as string);
  return { offset: Number(info.master_repl_offset ?? 0), backlog: Number(info.repl_backlog_size ?? 0) };
}

const MAX_HOPS = 5;

/** The node that takes the writes of `node`'s data: itself if it is a master, else the master at the top of its chain. */
export async function writerOf(spec: ClusterSpec, node: NodeAddress): Promise<NodeAddress> {
  let at = node;
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const client = await connectSource(spec, at.host, at.port);
    try {
      const role = await roleOf(client);
      if (role.master) return at;
      at = role.masterAddress!;
    } finally {
      client.disconnect();
    }
  }
  return fail(
    ErrorType.SourceNotMaster,
    `migration source ${addressText(node)}: no master found within ${MAX_HOPS} replication hops`,
  );
}
