/**
 * What a Redis or Valkey server can do: one record per node, read once (INFO server, COMMAND INFO) and asked by every
 * command choice, so that no version test is scattered through the engine. Pure: the reading is in src/redis.
 */

export type Engine = 'redis' | 'valkey';

export interface ServerCapabilities {
  engine: Engine;
  /** The engine's own version: `valkey_version` for Valkey (its `redis_version` is a compatibility value). */
  version: string;
  /** The RDB version of its DUMP payloads and snapshots; RESTORE takes this version and older ones only. */
  rdbVersion: number;
  /** PEXPIRETIME (Redis 7.0+): an expiry read as an absolute time. Without it: PTTL, bracketed by when it was read. */
  expireTime: boolean;
  /** Stream counters (Redis 7.0+): `entries-read`, `entries-added`, XGROUP CREATE ENTRIESREAD, XSETID ENTRIESADDED. */
  streamCounters: boolean;
  /** Hash field expirations (HEXPIRE, Redis 7.4+). */
  hashFieldTtl: boolean;
  /** CLIENT PAUSE ... WRITE (6.2+): holds writes, lets reads through. */
  pauseWrite: boolean;
  /** CLUSTER MIGRATESLOTS (Valkey 9.0+): whole slot ranges moved by the server, atomically. */
  atomicSlotMigration: boolean;
}

/** "Redis 6.2.5 (RDB 9)". */
export function describeServer(server: Pick<ServerCapabilities, 'engine' | 'version' | 'rdbVersion'>): string {
  return `${server.engine === 'valkey' ? 'Valkey' : 'Redis'} ${server.version} (RDB ${server.rdbVersion})`;
}

function versionParts(version: string): [number, number] {
  const [major = 0, minor = 0] = version.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return [major, minor];
}

/**
 * The RDB version a release writes, when no DUMP payload of its own says so (an empty node). Redis: 5.0-6.2 write 9,
 * 7.0 10, 7.2 11, 7.4 and 8.x 12. Valkey 7.2 and 8.x write 11; Valkey 9 moved to 80.
 */
export function rdbVersionOfRelease(engine: Engine, version: string): number {
  const [major, minor] = versionParts(version);
  const at = major * 100 + minor;
  if (engine === 'valkey') return major >= 9 ? 80 : 11;
  if (at >= 704) return 12;
  if (at >= 702) return 11;
  if (at >= 700) return 10;
  if (at >= 500) return 9;
  if (at >= 400) return 8;
  return 7;
}

/**
 * RDB formats come in two families that share versions 1-11 and value types 0-21. Redis went on with 12 (7.4: hashes
 * with field expirations as types 22-25). Valkey 9 jumped to 80 and its own magic ("VALKEY080"), where type 22 is a
 * hash with field expirations of another layout. A value's type is therefore read by the version it came with: the
 * engine works with neutral type ids, where Valkey's 22 is VALKEY_HASH_2, and turns them back into bytes per target.
 */
export const VALKEY_RDB_VERSION = 80;
/** Valkey 9's type 22 (RDB_TYPE_HASH_2: count, then field, value, expiry in ms or -1), as a neutral id. */
export const VALKEY_HASH_2 = 0x100 | 22;

/** RDB versions of Valkey's own family (80+), whose types past 21 mean other things than Redis's. */
export const isValkeyRdb = (rdbVersion: number): boolean => rdbVersion >= VALKEY_RDB_VERSION;

/** The neutral type id of a type byte written in an RDB (or DUMP payload) of this version. */
export function typeOfByte(byte: number, rdbVersion: number): number {
  return byte === 22 && isValkeyRdb(rdbVersion) ? VALKEY_HASH_2 : byte;
}

/** The byte a neutral type id is written as (in the format of the payload it goes into: see targetKnowsType). */
export function byteOfType(type: number): number {
  return type & 0xff;
}

/** The highest Redis value type a server of this RDB version knows (a payload with a higher type byte is refused). */
export function highestTypeOf(rdbVersion: number): number {
  if (isValkeyRdb(rdbVersion)) return 21; // and VALKEY_HASH_2
  if (rdbVersion >= 12) return 25; // 7.4: hashes with field expirations (22-25)
  if (rdbVersion >= 11) return 21; // 7.2: set listpack (20), stream v3 (21)
  if (rdbVersion >= 10) return 19; // 7.0: listpack hash/zset, quicklist 2, stream v2
  if (rdbVersion >= 9) return 15; // 5.0: streams
  return 14;
}

/**
 * Does a server that writes `serverRdb` RESTORE a payload labelled `payloadRdb`? Redis takes its own version and
 * older ones. Valkey 9 (in its default `rdb-version-check strict`) takes 1-11 and its own, never Redis's 12-79.
 */
export function acceptsRdbVersion(serverRdb: number, payloadRdb: number): boolean {
  if (isValkeyRdb(serverRdb)) return payloadRdb <= 11 || (isValkeyRdb(payloadRdb) && payloadRdb <= serverRdb);
  return payloadRdb <= serverRdb;
}

/** The version to label a payload from a `sourceRdb` source with, for a server of `targetRdb`. */
export function payloadVersionFor(targetRdb: number, sourceRdb: number): number {
  return acceptsRdbVersion(targetRdb, sourceRdb) ? sourceRdb : targetRdb;
}

/** RDB value types that carry hash field expirations: Redis 7.4+ (22-25) and Valkey 9 (VALKEY_HASH_2). */
export const HASH_FIELD_TTL_TYPES: ReadonlySet<number> = new Set([22, 23, 24, 25, VALKEY_HASH_2]);

/** RDB value types written by modules: only the module that wrote them can read them. */
export const MODULE_TYPES: ReadonlySet<number> = new Set([6, 7]);

/**
 * The capabilities of a server from its `INFO server` fields and the commands it has, with the RDB version read
 * from one of its own DUMP payloads when there was a key to read it from.
 */
export function capabilitiesFrom(
  info: Record<string, string>,
  has: (command: string) => boolean,
  dumpedRdbVersion?: number,
): ServerCapabilities {
  const engine: Engine = info.server_name === 'valkey' || info.valkey_version ? 'valkey' : 'redis';
  const version = (engine === 'valkey' ? info.valkey_version : info.redis_version) ?? info.redis_version ?? '0.0.0';
  const [major, minor] = versionParts(info.redis_version ?? version);
  return {
    engine,
    version,
    rdbVersion: dumpedRdbVersion ?? rdbVersionOfRelease(engine, version),
    expireTime: has('pexpiretime'),
    // XSETID ENTRIESADDED came with PEXPIRETIME in 7.0, and COMMAND INFO cannot show a command's arguments.
    streamCounters: major >= 7,
    hashFieldTtl: has('hexpire'),
    pauseWrite: major * 100 + minor >= 602,
    atomicSlotMigration: has('cluster|migrateslots'),
  };
}

/**
 * The version a replica of ours says it is to this source (REPLCONF version), or none. A Valkey 9+ primary sends a
 * replica that says nothing RDB 11, which cannot hold all its data (hash field expirations: it fails the snapshot at
 * such a key); told its own version, it sends its own format, which the parser reads (RDB 80).
 */
export function replicaVersionFor(source: Pick<ServerCapabilities, 'engine' | 'version'>): string | undefined {
  return source.engine === 'valkey' && versionParts(source.version)[0] >= 9 ? source.version : undefined;
}

/**
 * Can the target RESTORE a value of this neutral type, in a payload labelled with a version it accepts
 * (payloadVersionFor)? The encodings of a type are the same in every version that has it.
 */
export function targetKnowsType(target: Pick<ServerCapabilities, 'rdbVersion'>, type: number): boolean {
  if (MODULE_TYPES.has(type)) return false;
  if (type === VALKEY_HASH_2) return isValkeyRdb(target.rdbVersion);
  return type <= highestTypeOf(target.rdbVersion);
}
