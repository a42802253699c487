/**
 * Step 9: copy the old data into the cluster. A source is split into shards (one per source master and
 * database, or per RDB file); each shard is copied by SCAN batches in bounded chunks that return their cursor,
 * and heartbeat it while they run, so a retry or a new worker resumes at the last batch.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import calculateSlot from 'cluster-key-slot';
import type Redis from 'ioredis';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { freePort, pidAlive, stopPid } from '../local/processes';
import { startStandaloneRedis } from '../local/standalone';
import { parseClusterNodes, parseInfo } from '../redis/cluster-nodes';
import { PLAIN_ACCESS, clusterAuth, connectNode, probePort } from '../redis/connection';
import { printableKey } from '../redis/digest';
import { type SlotMap, groupByOwner, redirection, splitAddress } from '../redis/slot-map';
import {
  type ClusterSpec,
  type MigrationSpec,
  type WriteStamp,
  ErrorType,
  describeRanges,
  rangesFromSlots,
} from '../spec';
import { PAYLOAD_SLICE_BYTES, isRedisReply, repliesOrThrow, slicesByBytes } from '../migration/batches';
import { type Shard, connectShard, connectSource, migrationOf, targetKey } from '../migration/sources';
import { readWriteStamp } from '../migration/source-writes';
import { targetMap, userKeysInTarget } from '../migration/target';
import { type S3ClientFactory, parseS3Uri } from './s3';
import { fail, heartbeat, log, sleep } from './support';

export interface CopyCounters {
  /** SCAN batches done: orders checkpoints, the later one wins. */
  batches: number;
  scanned: number;
  copied: number;
  skipped: number;
  failed: number;
  bigKeys: number;
}

export const zeroCounters = (): CopyCounters => ({
  batches: 0,
  scanned: 0,
  copied: 0,
  skipped: 0,
  failed: 0,
  bigKeys: 0,
});

export type CopyMode = 'migrate' | 'dump-restore';

// ---------------------------------------------------------------------------------------------- plan

export interface MigrationPlan {
  shards: Shard[];
  totalKeys: number;
  /** Write stamps of the live sources (not of RDB files), to tell afterwards whether they took writes. */
  writeStamps?: WriteStamp[];
  /** Keys the target held before the copy (internal keys left out): with none, every extra key is ours. */
  targetUserKeys?: number;
}

async function probeSource(spec: ClusterSpec, host: string, port: number): Promise<Redis> {
  const what = `migration source ${host}:${port}`;
  for (let attempt = 1; ; attempt++) {
    const probe = await probePort({ host, port }, 2000, PLAIN_ACCESS); // the source: never the cluster's TLS
    if (probe.kind === 'redis') break;
    if (probe.kind === 'other')
      fail(ErrorType.SourceUnreachable, `${what} is not a Redis (it answered ${JSON.stringify(probe.reply)})`);
    if (attempt >= 3)
      fail(ErrorType.SourceUnreachable, `${what} is unreachable (connection refused, 3 tries); check migration.source`);
    await sleep(1000);
  }
  try {
    const client = await connectSource(spec, host, port);
    await client.ping();
    return client;
  } catch (err) {
    const message = (err as Error).message;
    if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(message))
      fail(
        ErrorType.SourceAuthFailed,
        `${what} refused the credentials of migration.source.auth: ${message.split('\n')[0]}`,
      );
    throw err;
  }
}

function dbKeys(info: Record<string, string>): Map<number, number> {
  const result = new Map<number, number>();
  for (const [name, value] of Object.entries(info)) {
    const match = /^db(\d+)$/.exec(name);
    if (match) result.set(Number(match[1]), Number(/keys=(\d+)/.exec(value)?.[1] ?? 0));
  }
  return result;
}

/** Shards of a standalone source: one per non-empty database; a database the spec does not map is refused. */
function standaloneShards(
  id: string,
  host: string,
  port: number,
  info: Record<string, string>,
  databases?: Record<string, { prefix: string }>,
): Shard[] {
  const mapping = databases ?? { '0': { prefix: '' } };
  const unmapped = [...dbKeys(info)].filter(([db, keys]) => keys > 0 && !mapping[String(db)]);
  if (unmapped.length > 0)
    fail(
      ErrorType.SourceDbNotMapped,
      `migration source ${id} has keys in db ${unmapped.map(([db, keys]) => `${db} (${keys} keys)`).join(', ')}, which a cluster (db 0 only) cannot hold as they are; map them with migration.source.databases, e.g. {"${unmapped[0]![0]}": {"prefix": "db${unmapped[0]![0]}:"}}`,
    );
  const keys = dbKeys(info);
  return Object.entries(mapping)
    .filter(([db]) => (keys.get(Number(db)) ?? 0) > 0)
    .map(([db, { prefix }]) => ({
      id: `${id}/db${db}`,
      host,
      port,
      db: Number(db),
      prefix,
      keys: keys.get(Number(db)) ?? 0,
    }));
}

/** Checks the source and the target and splits the work into shards. Reads only. */
export async function planMigration(spec: ClusterSpec): Promise<MigrationPlan> {
  const migration = migrationOf(spec);
  const map = targetMap(spec);
  let targetUserKeys: number;
  try {
    await map.refresh();
    const uncovered = map.uncoveredSlots();
    if (uncovered.length > 0)
      fail(
        ErrorType.TargetSlotsUncovered,
        `target cluster ${spec.name}: slots ${describeRanges(rangesFromSlots(uncovered))} have no owner; nothing was copied`,
      );
    targetUserKeys = await userKeysInTarget(map);
  } finally {
    map.close();
  }
  const source = migration.source;
  let shards: Shard[] = [];
  if (source.type === 'standalone') {
    const client = await probeSource(spec, source.host, source.port);
    try {
      const info = parseInfo((await client.info()) as string);
      if (info.cluster_enabled === '1')
        fail(
          ErrorType.InvalidSpec,
          `migration source ${source.host}:${source.port} is a cluster node; use "type": "cluster"`,
        );
      shards = standaloneShards(`${source.host}:${source.port}`, source.host, source.port, info, source.databases);
    } finally {
      client.disconnect();
    }
  } else if (source.type === 'cluster') {
    let nodesText: string | undefined;
    for (const seed of source.nodes) {
      const client = await probeSource(spec, seed.host, seed.port);
      try {
        nodesText = (await client.call('CLUSTER', 'NODES')) as string;
        break;
      } finally {
        client.disconnect();
      }
    }
    const sourceMasters = parseClusterNodes(nodesText ?? '').filter(
      (n) => n.role === 'master' && n.slots.length > 0 && !n.failing,
    );
    for (const m of sourceMasters) {
      const host = m.host || source.nodes[0]!.host;
      const client = await connectSource(spec, host, m.port);
      try {
        shards.push({ id: `${host}:${m.port}`, host, port: m.port, db: 0, prefix: '', keys: await client.dbsize() });
      } finally {
        client.disconnect();
      }
    }
  } else {
    shards = source.objects.map((object, i) => ({ id: `rdb-${i + 1}`, db: 0, prefix: '', rdbObject: object, keys: 0 }));
  }
  const totalKeys = shards.reduce((sum, s) => sum + s.keys, 0);
  const writeStamps = await readSourceWriteStamps(spec, shards);
  log.info('migration planned', { shards: shards.map((s) => s.id), totalKeys, targetUserKeys });
  return { shards, totalKeys, writeStamps, targetUserKeys };
}

/** A write stamp of each live source node of these shards (RDB files take no writes). */
export async function readSourceWriteStamps(spec: ClusterSpec, shards: Shard[]): Promise<WriteStamp[]> {
  const nodes = new Map<string, Shard>();
  for (const shard of shards) if (!shard.rdbObject && shard.host) nodes.set(`${shard.host}:${shard.port}`, shard);
  return Promise.all(
    [...nodes].map(async ([node, shard]) => {
      const client = await connectSource(spec, shard.host!, shard.port!);
      try {
        return await readWriteStamp(client, node);
      } finally {
        client.disconnect();
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------------- RDB shards

function rdbDir(workflowId: string, shard: Shard): string {
  const hash = createHash('sha1').update(`${workflowId}:${shard.rdbObject}`).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), 'rco-rdb', hash);
}

/**
 * Downloads the shard's RDB file from S3 and loads it into a temporary redis-server on a free loopback port.
 * Idempotent: a temporary server already running for this shard is reused.
 */
export async function prepareRdbShard(spec: ClusterSpec, shard: Shard, s3Factory: S3ClientFactory): Promise<Shard> {
  const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'none';
  const dir = rdbDir(workflowId, shard);
  const stateFile = path.join(dir, 'server.json');
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number; port: number };
    if (
      pidAlive(state.pid) &&
      (await probePort({ host: '127.0.0.1', port: state.port }, 2000, PLAIN_ACCESS)).kind === 'redis'
    )
      return { ...shard, host: '127.0.0.1', port: state.port, keys: await countKeys('127.0.0.1', state.port) };
  }
  mkdirSync(dir, { recursive: true });
  const client = s3Factory(spec.s3);
  const { bucket, key } = parseS3Uri(shard.rdbObject!);
  try {
    const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).catch((err: Error) => {
      if (['NoSuchKey', 'NoSuchBucket', 'NotFound'].includes(err.name))
        fail(ErrorType.ConfigNotFound, `RDB object ${shard.rdbObject} does not exist in S3`);
      throw err;
    });
    await pipeline(reply.Body as Readable, createWriteStream(path.join(dir, 'shard.rdb')));
  } finally {
    client.destroy();
  }
  const port = await freePort();
  const pid = await startStandaloneRedis({
    port,
    dir,
    args: ['--dbfilename', 'shard.rdb', '--save', '', '--appendonly', 'no'],
    onWait: () => heartbeat(),
    timeoutMs: 10 * 60_000,
  });
  writeFileSync(stateFile, JSON.stringify({ pid, port }));
  const keys = await countKeys('127.0.0.1', port);
  log.info('RDB loaded into a temporary redis-server', { object: shard.rdbObject, port, keys });
  return { ...shard, host: '127.0.0.1', port, keys };
}

async function countKeys(host: string, port: number): Promise<number> {
  const client = await connectNode({ host, port }, { access: PLAIN_ACCESS }); // our temporary server
  try {
    return await client.dbsize();
  } finally {
    client.disconnect();
  }
}

/** Stops the shard's temporary redis-server (by the pid it recorded) once its data is copied. */
export async function releaseRdbShard(shard: Shard): Promise<void> {
  const dir = rdbDir(Context.current().info.workflowExecution?.workflowId ?? 'none', shard);
  const stateFile = path.join(dir, 'server.json');
  if (!existsSync(stateFile)) return;
  const { pid } = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
  await stopPid(pid);
  const { rmSync } = await import('node:fs');
  rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------- copy

export interface CopyChunkInput {
  spec: ClusterSpec;
  shard: Shard;
  cursor: string;
  counters: CopyCounters;
  mode: CopyMode;
  keysPerSecond?: number;
  /** Return after this long so that the workflow can pause, throttle and record the cursor. */
  maxMs: number;
}

export interface CopyChunkResult {
  cursor: string;
  done: boolean;
  counters: CopyCounters;
  mode: CopyMode;
  failedKeys: string[];
}

interface CopyContext {
  spec: ClusterSpec;
  migration: MigrationSpec;
  shard: Shard;
  source: Redis;
  map: SlotMap;
  counters: CopyCounters;
  mode: CopyMode;
  failedKeys: string[];
  /** Scanning the source again after it restarted: keys already in the target are left as they are. */
  rescan?: boolean;
}

/**
 * Where a shard's copy stands. Opaque to the workflow: the SCAN cursor, the run_id of the source process it
 * belongs to, and whether this is a second scan. A restarted Redis hashes keys with a new random seed, so a cursor
 * from before the restart points at arbitrary buckets: resuming from it would silently skip keys.
 */
interface ScanPosition {
  cursor: string;
  runId?: string;
  rescan: boolean;
}

export function parsePosition(text: string): ScanPosition {
  const [cursor = '0', runId, flag] = text.split(':');
  return { cursor, runId: runId || undefined, rescan: flag === 'rescan' };
}

export function formatPosition(position: ScanPosition): string {
  if (!position.runId) return position.cursor;
  return [position.cursor, position.runId, ...(position.rescan ? ['rescan'] : [])].join(':');
}

interface Checkpoint {
  cursor: string;
  counters: CopyCounters;
  mode: CopyMode;
}

/** Where a shard's checkpoint lives in the target: one slot (hash tag) per run, removed when the run verifies. */
export function checkpointKeyFor(
  ctx: Pick<Context, 'info'> | { workflowId: string; runId: string },
  shard: Pick<Shard, 'id'>,
): Buffer {
  const { workflowId, runId } = ('info' in ctx ? ctx.info.workflowExecution : ctx) ?? { workflowId: '-', runId: '-' };
  return Buffer.from(`rco:checkpoint:{${workflowId}}:${runId}:${shard.id}`);
}

const PAYLOAD_REJECTED = /payload version or checksum are wrong/i;

/** Copies SCAN batches from the shard's cursor until the shard is done or maxMs has passed. */
export async function copyShardChunk(input: CopyChunkInput): Promise<CopyChunkResult> {
  const migration = migrationOf(input.spec);
  const ctx = Context.current();
  const source = await connectShard(input.spec, input.shard);
  const map = targetMap(input.spec);
  const failedKeys: string[] = [];
  try {
    await map.refresh();
    // Resume at the latest of: what the workflow recorded, the last heartbeat, the checkpoint in the target.
    const checkpointKey = checkpointKeyFor(ctx, input.shard);
    const checkpointOwner = await map.client(map.ownerOf(checkpointKey));
    const stored = await checkpointOwner.get(checkpointKey);
    const candidates: Checkpoint[] = [{ cursor: input.cursor, counters: input.counters, mode: input.mode }];
    if (ctx.info.attempt > 1 && ctx.info.heartbeatDetails) candidates.push(ctx.info.heartbeatDetails as Checkpoint);
    if (stored) candidates.push(JSON.parse(stored) as Checkpoint);
    const start = candidates.reduce((best, c) => (c.counters.batches > best.counters.batches ? c : best));
    const runId = parseInfo((await source.info('server')) as string).run_id ?? '';
    const position = parsePosition(start.cursor);
    if (position.cursor !== '0' && position.runId !== undefined && position.runId !== runId) {
      log.warn(
        'the source restarted since the last checkpoint (new run_id), so its SCAN cursor is void: scanning it again from the start, leaving keys already in the target as they are',
        { shard: input.shard.id, conflict: migration.conflict },
      );
      Object.assign(position, { cursor: '0', rescan: true });
    }
    position.runId = runId;
    let cursor = position.cursor;
    const counters = { ...start.counters };
    let mode: CopyMode = input.shard.prefix ? 'dump-restore' : start.mode;
    const started = Date.now();
    const copy: CopyContext = {
      spec: input.spec,
      migration,
      shard: input.shard,
      source,
      map,
      counters,
      mode,
      failedKeys,
      rescan: position.rescan,
    };
    // Reading batch n+1 from the source overlaps writing batch n into the target masters. Writes stay one
    // batch at a time, each checkpointed before the next starts: a crash copies at most one batch again.
    let batchStarted = Date.now();
    let reading: Promise<ReadBatch> | undefined = readBatch(copy, cursor);
    while (reading) {
      const batch: ReadBatch = await reading;
      const more = batch.cursor !== '0' && Date.now() - started < input.maxMs;
      const minMs = input.keysPerSecond ? (batch.scanned / input.keysPerSecond) * 1000 : 0;
      reading = more && minMs === 0 ? readBatch(copy, batch.cursor) : undefined;
      await writeBatch(copy, batch);
      mode = copy.mode;
      cursor = batch.cursor;
      counters.batches++;
      // Durable before the next batch is written. Heartbeats alone reach the server up to a throttle interval late.
      const checkpoint: Checkpoint = { cursor: formatPosition({ ...position, cursor }), counters, mode };
      await checkpointOwner.set(checkpointKey, JSON.stringify(checkpoint), 'EX', 7 * 24 * 3600);
      ctx.heartbeat(checkpoint);
      if (minMs > 0) {
        const spent = Date.now() - batchStarted;
        if (spent < minMs) await sleep(minMs - spent);
        if (more) reading = readBatch(copy, cursor);
      }
      batchStarted = Date.now();
    }
    return {
      cursor: formatPosition({ ...position, cursor }),
      done: cursor === '0',
      counters,
      mode,
      failedKeys: failedKeys.slice(0, 50),
    };
  } finally {
    source.disconnect();
    map.close();
  }
}

interface BatchKey {
  key: Buffer;
  /** PEXPIRETIME: -1 without expiry. */
  expireAt: number;
  big: boolean;
  /** MEMORY USAGE (sampled); bounds the payload bytes held in the worker at once. */
  bytes: number;
  /** DUMP payload, read ahead when copying through the worker. */
  payload?: Buffer;
}

/** One SCAN batch read from the source; side-effect free, so it can run ahead of the writes. */
interface ReadBatch {
  cursor: string;
  scanned: number;
  /** Deleted or expired since SCAN saw them. */
  gone: number;
  keys: BatchKey[];
}

async function readBatch(ctx: CopyContext, cursor: string): Promise<ReadBatch> {
  const [next, keys] = await ctx.source.scanBuffer(cursor, 'COUNT', ctx.migration.batchSize);
  return readKeys(ctx, next.toString(), keys);
}

/** Expiry, size and (through the worker) the payload of each key. */
async function readKeys(ctx: CopyContext, cursor: string, keys: Buffer[]): Promise<ReadBatch> {
  const batch: ReadBatch = { cursor, scanned: keys.length, gone: 0, keys: [] };
  if (keys.length === 0) return batch;
  const meta = ctx.source.pipeline();
  for (const key of keys) {
    meta.call('PEXPIRETIME', key);
    // Default sampling: exact sizes would walk every element of every big key.
    meta.call('MEMORY', 'USAGE', key);
  }
  const replies = repliesOrThrow(await meta.exec(), `reading keys from the source ${ctx.shard.id}`);
  keys.forEach((key, i) => {
    const expireAt = Number(replies[2 * i]);
    const usage = Number(replies[2 * i + 1] ?? 0);
    // -2: deleted or already expired since SCAN saw it; nothing to carry.
    if (expireAt === -2) batch.gone++;
    else batch.keys.push({ key, expireAt, bytes: usage, big: usage > ctx.migration.bigKeyBytes });
  });
  const small = batch.keys.filter((k) => !k.big);
  // Read ahead only what fits in one slice; larger batches are dumped slice by slice while writing.
  if (ctx.mode === 'dump-restore' && small.reduce((sum, k) => sum + k.bytes, 0) <= PAYLOAD_SLICE_BYTES) {
    await dumpPayloads(ctx, small);
    batch.gone += small.filter((k) => !k.payload).length;
    batch.keys = batch.keys.filter((k) => k.big || k.payload);
  }
  return batch;
}

async function writeBatch(ctx: CopyContext, batch: ReadBatch): Promise<void> {
  ctx.counters.scanned += batch.scanned;
  ctx.counters.skipped += batch.gone;
  let todo = batch.keys;
  if (ctx.migration.conflict !== 'replace' || ctx.rescan) todo = await dropConflicts(ctx, todo);
  for (const big of todo.filter((k) => k.big)) {
    ctx.counters.bigKeys++;
    await copyPieceByPiece(ctx, big.key, big.expireAt);
  }
  const normal = todo.filter((k) => !k.big);
  if (normal.length === 0) return;
  if (ctx.mode === 'migrate') await migrateKeys(ctx, normal);
  else await dumpRestore(ctx, normal);
}

/** With conflict "skip" or "fail": keys that already exist in the target are skipped, or end the run. */
async function dropConflicts<T extends { key: Buffer }>(ctx: CopyContext, items: T[]): Promise<T[]> {
  const exists = new Map<T, boolean>();
  for (const [owner, group] of groupByOwner(items, ctx.map, (i) => targetKey(ctx.shard, i.key))) {
    const client = await ctx.map.client(owner);
    const replies = repliesOrThrow(
      await client.pipeline(group.map((i) => ['exists', targetKey(ctx.shard, i.key)])).exec(),
      `checking for existing keys on ${owner}`,
    );
    group.forEach((item, i) => exists.set(item, Number(replies[i]) === 1));
  }
  const existing = items.filter((i) => exists.get(i));
  // In a second scan the keys found are mostly our own copies: they cannot be told from conflicts, so they stay.
  if (existing.length > 0 && ctx.migration.conflict === 'fail' && !ctx.rescan)
    fail(
      ErrorType.KeyConflict,
      `key ${printableKey(targetKey(ctx.shard, existing[0]!.key))} already exists in cluster ${ctx.spec.name} (${existing.length} in this batch) and migration.conflict is "fail"; nothing in it was overwritten`,
    );
  ctx.counters.skipped += existing.length;
  return items.filter((i) => !exists.get(i));
}

/**
 * The fast path: the source sends the keys straight to their owners, one MIGRATE ... KEYS per owner, all sent in
 * one pipeline (the source runs them one after the other; the pipeline saves the round trips between them).
 */
async function migrateKeys(ctx: CopyContext, items: BatchKey[]): Promise<void> {
  const groups = [...groupByOwner(items, ctx.map, (i) => i.key)];
  const commands = groups.map(([owner, group]) => {
    const [host, port] = splitAddress(owner);
    const args: (string | Buffer)[] = [host, String(port), '', '0', '10000', 'COPY'];
    if (ctx.migration.conflict === 'replace') args.push('REPLACE');
    // The source logs in to the target with the cluster's credentials; they go to the source, never to history.
    const auth = clusterAuth();
    if (auth.password !== undefined) args.push('AUTH2', auth.username ?? 'default', auth.password);
    return ['call', 'MIGRATE', ...args, 'KEYS', ...group.map((i) => i.key)];
  });
  const replies = (await ctx.source.pipeline(commands).exec()) ?? [];
  for (const [i, [, group]] of groups.entries()) {
    const error = replies[i]?.[0];
    if (!error) {
      ctx.counters.copied += group.length;
      continue;
    }
    // The source connection itself failed: the activity retries from its checkpoint.
    if (!isRedisReply(error)) throw error;
    const message = error.message;
    if (/^IOERR|Can't connect|timeout/i.test(message)) {
      if (ctx.migration.copyMode !== 'auto') throw error;
      log.warn('MIGRATE cannot reach the target from the source; copying through the worker from now on', {
        shard: ctx.shard.id,
        error: message,
      });
      ctx.mode = 'dump-restore';
    }
    // Redirections, rejected payloads and busy keys are sorted out key by key.
    if (/MOVED|ASK|CLUSTERDOWN|TRYAGAIN/.test(message)) await ctx.map.refresh();
    await dumpRestore(ctx, group);
  }
}

/** DUMP payloads of the keys that have none yet; a key gone since SCAN keeps none. */
async function dumpPayloads(ctx: CopyContext, items: BatchKey[]): Promise<void> {
  const missing = items.filter((i) => !i.payload);
  if (missing.length === 0) return;
  const dumps = repliesOrThrow(
    await ctx.source.pipeline(missing.map((i) => ['dumpBuffer', i.key])).exec(),
    `DUMP from the source ${ctx.shard.id}`,
  );
  missing.forEach((item, i) => (item.payload = (dumps[i] as Buffer | null) ?? undefined));
}

/** Through the worker: DUMP from the source, RESTORE ... ABSTTL into the owners; slice by slice of bytes. */
async function dumpRestore(ctx: CopyContext, items: BatchKey[]): Promise<void> {
  for (const slice of slicesByBytes(items, PAYLOAD_SLICE_BYTES)) {
    await dumpRestoreSlice(ctx, slice);
    for (const item of slice) item.payload = undefined; // done with it: let it go before the next slice
  }
}

/** One slice: all owners written at once. */
async function dumpRestoreSlice(ctx: CopyContext, items: BatchKey[]): Promise<void> {
  await dumpPayloads(ctx, items);
  const live = items.filter((i) => i.payload);
  ctx.counters.skipped += items.length - live.length; // gone between SCAN and DUMP
  await Promise.all(
    [...groupByOwner(live, ctx.map, (i) => targetKey(ctx.shard, i.key))].map(async ([owner, group]) => {
      const client = await ctx.map.client(owner);
      const commands = group.map((item) => {
        const args: (string | Buffer)[] = [
          targetKey(ctx.shard, item.key),
          String(Math.max(item.expireAt, 0)),
          item.payload!,
        ];
        if (ctx.migration.conflict === 'replace') args.push('REPLACE');
        if (item.expireAt > 0) args.push('ABSTTL');
        return ['call', 'RESTORE', ...args];
      });
      const replies = (await client.pipeline(commands).exec()) ?? [];
      for (const [i, item] of group.entries()) {
        const error = replies[i]?.[0];
        if (!error) ctx.counters.copied++;
        else await restoreOne(ctx, item.key, item.expireAt, item.payload!, error);
      }
    }),
  );
}

/** One key whose RESTORE failed: follow redirections, wait out a busy cluster, or copy it piece by piece. */
async function restoreOne(
  ctx: CopyContext,
  key: Buffer,
  expireAt: number,
  payload: Buffer,
  firstError: Error,
): Promise<void> {
  let error: Error | undefined = firstError;
  for (let attempt = 0; attempt < 10 && error; attempt++) {
    // A lost connection to the target is not this key's failure: the activity retries from its checkpoint.
    if (!isRedisReply(error)) throw error;
    if (PAYLOAD_REJECTED.test(error.message)) return copyPieceByPiece(ctx, key, expireAt);
    if (/^BUSYKEY/.test(error.message)) {
      ctx.counters.skipped++;
      return;
    }
    const kind = redirection(error);
    if (!kind) break;
    if (kind === 'MOVED') await ctx.map.refresh();
    else await sleep(100 * (attempt + 1));
    const args: (string | Buffer)[] = [targetKey(ctx.shard, key), String(Math.max(expireAt, 0)), payload];
    if (ctx.migration.conflict === 'replace') args.push('REPLACE');
    if (expireAt > 0) args.push('ABSTTL');
    try {
      if (kind === 'ASK') {
        const [, , address] = error.message.split(' ');
        const client = await ctx.map.client(address!);
        await client
          .pipeline([
            ['call', 'ASKING'],
            ['call', 'RESTORE', ...args],
          ])
          .exec();
      } else await (await ctx.map.client(ctx.map.ownerOf(targetKey(ctx.shard, key)))).call('RESTORE', ...args);
      error = undefined;
    } catch (err) {
      error = err as Error;
    }
  }
  if (error) {
    ctx.counters.failed++;
    ctx.failedKeys.push(`${printableKey(key)}: ${error.message}`);
  } else ctx.counters.copied++;
}

/** A temporary key in the same slot as `key`, or undefined when the name leaves no way to make one. */
function temporaryKeyFor(key: Buffer): Buffer | undefined {
  const slot = calculateSlot(key);
  for (const candidate of [
    Buffer.concat([key, Buffer.from('.rco-tmp')]),
    Buffer.concat([Buffer.from('{'), key, Buffer.from('}.rco-tmp')]),
  ])
    if (calculateSlot(candidate) === slot) return candidate;
  return undefined;
}

/**
 * Big keys and payloads the target rejects: read the value type by type in pieces, build it under a temporary
 * key in the same slot, then RENAME it into place, so that readers never see half a value.
 */
async function copyPieceByPiece(ctx: CopyContext, key: Buffer, expireAt: number): Promise<void> {
  const destination = targetKey(ctx.shard, key);
  const tmp = temporaryKeyFor(destination) ?? destination;
  const target = await ctx.map.client(ctx.map.ownerOf(destination));
  const src = ctx.source;
  const type = await src.type(key);
  await target.del(tmp);
  const scanInto = async (command: 'HSCAN' | 'SSCAN' | 'ZSCAN', write: (items: Buffer[]) => Promise<unknown>) => {
    let cursor = '0';
    do {
      const [next, items] = (await src.callBuffer(command, key, cursor, 'COUNT', '1000')) as [Buffer, Buffer[]];
      cursor = next.toString();
      if (items.length > 0) await write(items);
      heartbeat();
    } while (cursor !== '0');
  };
  switch (type) {
    case 'hash':
      await scanInto('HSCAN', (items) => target.callBuffer('HSET', tmp, ...items));
      break;
    case 'set':
      await scanInto('SSCAN', (items) => target.callBuffer('SADD', tmp, ...items));
      break;
    case 'zset':
      await scanInto('ZSCAN', (items) => {
        const args: Buffer[] = [];
        for (let i = 0; i < items.length; i += 2) args.push(items[i + 1]!, items[i]!);
        return target.callBuffer('ZADD', tmp, ...args);
      });
      break;
    case 'list': {
      const length = await src.llen(key);
      for (let start = 0; start < length; start += 1000) {
        const items = (await src.callBuffer('LRANGE', key, String(start), String(start + 999))) as Buffer[];
        if (items.length > 0) await target.callBuffer('RPUSH', tmp, ...items);
      }
      break;
    }
    case 'string': {
      const length = await src.strlen(key);
      await target.set(tmp, '');
      for (let start = 0; start < length; start += 1 << 20) {
        const piece = (await src.callBuffer(
          'GETRANGE',
          key,
          String(start),
          String(Math.min(start + (1 << 20), length) - 1),
        )) as Buffer;
        await target.callBuffer('APPEND', tmp, piece);
      }
      break;
    }
    case 'stream': {
      let start = '-';
      for (;;) {
        const entries = (await src.callBuffer('XRANGE', key, start, '+', 'COUNT', '1000')) as [Buffer, Buffer[]][];
        for (const [id, fields] of entries) await target.callBuffer('XADD', tmp, id, ...fields);
        if (entries.length < 1000) break;
        start = `(${entries[entries.length - 1]![0].toString()}`;
      }
      const info = (await src.call('XINFO', 'STREAM', key)) as unknown[];
      const lastId = String(info[info.indexOf('last-generated-id') + 1]);
      if ((await target.exists(tmp)) === 0)
        await target.call('XADD', tmp, 'MAXLEN', '0', lastId === '0-0' ? '*' : lastId, 'x', 'x');
      await target.call('XSETID', tmp, lastId);
      // Groups and their last delivered ids are carried; their pending entries are not (they name consumers).
      for (const group of (await src.call('XINFO', 'GROUPS', key)) as unknown[][]) {
        const name = String(group[group.indexOf('name') + 1]);
        const delivered = String(group[group.indexOf('last-delivered-id') + 1]);
        await target.call('XGROUP', 'CREATE', tmp, name, delivered);
      }
      break;
    }
    default:
      ctx.counters.failed++;
      ctx.failedKeys.push(`${printableKey(key)}: type ${type} cannot be copied piece by piece`);
      return;
  }
  if (tmp !== destination) await target.callBuffer('RENAME', tmp, destination);
  if (expireAt > 0) await target.callBuffer('PEXPIREAT', destination, String(expireAt));
  ctx.counters.copied++;
}

/** Copies the given keys (base64, or bytes) again, with REPLACE, through the worker. */
export async function recopyKeys(spec: ClusterSpec, shard: Shard, keys: (string | Buffer)[]): Promise<CopyCounters> {
  const migration = { ...migrationOf(spec), conflict: 'replace' as const };
  const source = await connectShard(spec, shard);
  const map = targetMap(spec);
  const counters = zeroCounters();
  try {
    await map.refresh();
    const ctx: CopyContext = { spec, migration, shard, source, map, counters, mode: 'dump-restore', failedKeys: [] };
    await writeBatch(
      ctx,
      await readKeys(
        ctx,
        '0',
        keys.map((k) => (typeof k === 'string' ? Buffer.from(k, 'base64') : k)),
      ),
    );
    return counters;
  } finally {
    source.disconnect();
    map.close();
  }
}

/** Removes this run's checkpoint keys from the target once every shard is copied. */
export async function clearCheckpoints(spec: ClusterSpec, shards: Shard[]): Promise<number> {
  const map = targetMap(spec);
  try {
    await map.refresh();
    const ctx = Context.current();
    let removed = 0;
    for (const shard of shards) {
      const key = checkpointKeyFor(ctx, shard);
      removed += await (await map.client(map.ownerOf(key))).del(key);
    }
    return removed;
  } finally {
    map.close();
  }
}
