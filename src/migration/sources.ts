/**
 * The source side of a migration: its shards, and connections to them with the source's own credentials and TLS
 * (read here, in one place, for every kind of source and every mode).
 */
import type Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { resolveAuth } from '../redis/auth';
import { BulkConnection } from '../redis/bulk';
import { type ClusterAccess, type NodeAddress, type TlsMaterial, connectNode } from '../redis/connection';
import type { SlotMap } from '../redis/slot-map';
import { type ClusterSpec, type MigrationSpec, type SourceTls, ErrorType } from '../model';
import { fail } from '../runtime/context';
import { type SentinelSource, masterFromSentinels } from './sentinel';

export interface Shard {
  id: string;
  /** The node to SCAN; for RDB shards, filled in by prepareRdbShard. */
  host?: string;
  port?: number;
  /**
   * The source master this shard's stream comes from, by a name that outlives a failover: the Sentinel's master name
   * for a Sentinel source. @default "host:port"
   */
  master?: string;
  db: number;
  /** Prefix added to every key name in the target (for source databases other than 0). */
  prefix: string;
  /** The target database its keys go into (migration.source.databases). @default 0 */
  targetDb?: number;
  rdbObject?: string;
  /** Keys at plan time, for the ETA (0 when unknown). */
  keys: number;
}

export function migrationOf(spec: ClusterSpec): MigrationSpec {
  if (!spec.migration) throw new Error(`spec ${spec.name} has no migration section`);
  return spec.migration;
}

/** The TLS options of migration.source.tls, its files read on this worker. */
export function sourceTls(tls: SourceTls | undefined): TlsMaterial | undefined {
  if (!tls) return undefined;
  const read = (field: 'caFile' | 'certFile' | 'keyFile') => {
    const file = tls[field];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      return fail(ErrorType.TlsFilesUnreadable, `migration.source.tls.${field}: ${(err as Error).message}`);
    }
  };
  return {
    ca: read('caFile'),
    cert: read('certFile'),
    key: read('keyFile'),
    servername: tls.serverName,
    rejectUnauthorized: !tls.skipCertificateVerification,
  };
}

/** How to reach the source's data nodes: its own credentials and TLS (never the cluster's). */
export function sourceAccess(spec: ClusterSpec): ClusterAccess {
  const source = migrationOf(spec).source;
  if (source.type === 'rdb') return { auth: {} };
  return { auth: resolveAuth(source.auth), tls: sourceTls(source.tls) };
}

/** Where a Sentinel source's master is now, as its Sentinels say (with sentinelAuth and the source's TLS). */
export function sentinelMaster(source: SentinelSource): Promise<NodeAddress> {
  return masterFromSentinels(source, { auth: resolveAuth(source.sentinelAuth), tls: sourceTls(source.tls) });
}

/** The node to read a shard from: its own, or for a Sentinel source the master now (it may have failed over). */
async function shardNode(spec: ClusterSpec, shard: Shard): Promise<NodeAddress> {
  const source = migrationOf(spec).source;
  if (source.type === 'sentinel') return sentinelMaster(source);
  if (shard.host === undefined || shard.port === undefined) throw new Error(`shard ${shard.id} has no node yet`);
  return { host: shard.host, port: shard.port };
}

/** A connection to a source node, on database `db`. */
export async function connectSource(spec: ClusterSpec, host: string, port: number, db = 0): Promise<Redis> {
  const client = await connectNode({ host, port }, { access: sourceAccess(spec) });
  if (db !== 0) await client.select(db);
  return client;
}

/** The shard's node, on its database. */
export async function connectShard(spec: ClusterSpec, shard: Shard): Promise<Redis> {
  const node = await shardNode(spec, shard);
  return connectSource(spec, node.host, node.port, shard.db);
}

/** A batch connection (see BulkConnection) to the shard's node, on its database. */
export async function openShardBulk(spec: ClusterSpec, shard: Shard): Promise<BulkConnection> {
  return openSourceBulk(spec, await shardNode(spec, shard), shard.db);
}

/** A batch connection to a source node, on database `db`. */
export function openSourceBulk(spec: ClusterSpec, node: NodeAddress, db: number): Promise<BulkConnection> {
  return BulkConnection.open(node, { access: sourceAccess(spec), db });
}

/** Where a source database's keys go in the target: its database there, and a key-name prefix. */
export interface Destination {
  db: number;
  prefix: string;
}

/** Source database -> its destination (migration.source.databases; db 0 into db 0 without a prefix by default). */
export function databaseDestinations(spec: ClusterSpec): Map<number, Destination> {
  const source = migrationOf(spec).source;
  const databases = (source.type !== 'rdb' && source.databases) || { '0': { prefix: '', db: 0 } };
  // Specs recorded before target databases existed have no `db`.
  return new Map(Object.entries(databases).map(([db, to]) => [Number(db), { db: to.db ?? 0, prefix: to.prefix }]));
}

/** A destination with its prefix as bytes (undefined: no prefix), for the replication stream. */
export interface DestinationBytes {
  db: number;
  prefix: Buffer | undefined;
}

/** The same, with prefixes as bytes. */
export function databaseDestinationBytes(spec: ClusterSpec): Map<number, DestinationBytes> {
  return new Map(
    [...databaseDestinations(spec)].map(([db, to]) => [
      db,
      { db: to.db, prefix: to.prefix ? Buffer.from(to.prefix) : undefined },
    ]),
  );
}

/** The target map on the database a shard's keys go into. */
export const shardTarget = (map: SlotMap, shard: Pick<Shard, 'targetDb'>): SlotMap =>
  map.onDatabase(shard.targetDb ?? 0);

/** The name a source key gets in the target: the shard's database prefix, then the key. */
export const targetKey = (shard: Pick<Shard, 'prefix'>, key: Buffer): Buffer =>
  shard.prefix ? Buffer.concat([Buffer.from(shard.prefix), key]) : key;
