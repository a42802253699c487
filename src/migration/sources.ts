/** The source side of a migration: its shards, and connections to them with the source's own credentials. */
import type Redis from 'ioredis';
import { resolveAuth } from '../redis/auth';
import { BulkConnection } from '../redis/bulk';
import { type ClusterAccess, connectNode } from '../redis/connection';
import type { ClusterSpec, MigrationSpec } from '../model';

export interface Shard {
  id: string;
  /** The node to SCAN; for RDB shards, filled in by prepareRdbShard. */
  host?: string;
  port?: number;
  db: number;
  /** Prefix added to every key name in the target (for source databases other than 0). */
  prefix: string;
  rdbObject?: string;
  /** Keys at plan time, for the ETA (0 when unknown). */
  keys: number;
}

export function migrationOf(spec: ClusterSpec): MigrationSpec {
  if (!spec.migration) throw new Error(`spec ${spec.name} has no migration section`);
  return spec.migration;
}

/** How to reach the source: its own credentials (never the cluster's), in plain TCP. */
export function sourceAccess(spec: ClusterSpec): ClusterAccess {
  const source = migrationOf(spec).source;
  return { auth: resolveAuth(source.type === 'rdb' ? undefined : source.auth) };
}

/** A connection to a source node, on database `db`. */
export async function connectSource(spec: ClusterSpec, host: string, port: number, db = 0): Promise<Redis> {
  const client = await connectNode({ host, port }, { access: sourceAccess(spec) });
  if (db !== 0) await client.select(db);
  return client;
}

/** The shard's node, on its database. */
export function connectShard(spec: ClusterSpec, shard: Shard): Promise<Redis> {
  if (shard.host === undefined || shard.port === undefined) throw new Error(`shard ${shard.id} has no node yet`);
  return connectSource(spec, shard.host, shard.port, shard.db);
}

/** A batch connection (see BulkConnection) to the shard's node, on its database. */
export function openShardBulk(spec: ClusterSpec, shard: Shard): Promise<BulkConnection> {
  if (shard.host === undefined || shard.port === undefined) throw new Error(`shard ${shard.id} has no node yet`);
  return BulkConnection.open({ host: shard.host, port: shard.port }, { access: sourceAccess(spec), db: shard.db });
}

/** The name a source key gets in the target: the shard's database prefix, then the key. */
export const targetKey = (shard: Pick<Shard, 'prefix'>, key: Buffer): Buffer =>
  shard.prefix ? Buffer.concat([Buffer.from(shard.prefix), key]) : key;
