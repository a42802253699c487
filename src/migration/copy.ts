/**
 * The copy loop: SCAN batches of a shard, each read ahead while the previous one is written, each checkpointed,
 * for a bounded time (a chunk) that returns its cursor to the workflow.
 */
import { Context } from '@temporalio/activity';
import type Redis from 'ioredis';
import { type ClusterSpec, type MigrationSpec, acceptsRdbVersion } from '../model';
import { parseInfo } from '../redis/cluster-nodes';
import type { SlotMap } from '../redis/slot-map';
import { log, sleep } from '../runtime/context';
import { capabilitiesOf } from '../redis/servers';
import {
  type Checkpoint,
  type CopyCounters,
  type CopyMode,
  checkpointKeyFor,
  formatPosition,
  ownerFromActivity,
  parsePosition,
  resumePointOfActivity,
  zeroCounters,
} from './checkpoint';
import { type Shard, connectShard, migrationOf, openShardBulk, shardTarget } from './sources';
import { type LazyBulk, lazyBulk } from '../redis/bulk';
import { targetMap } from './target';
import { type ReadBatch, readBatch, readKeys, writeBatch } from './writes';

export interface CopyChunkInput {
  spec: ClusterSpec;
  shard: Shard;
  cursor: string;
  counters: CopyCounters;
  mode: CopyMode;
  keysPerSecond?: number;
  /** Return after this long so that the workflow can pause, throttle and record the cursor. */
  maxMs: number;
  /** The workflow's first run id: checkpoints outlive continue-as-new. Earlier runs keyed them by their own run. */
  firstRunId?: string;
}

export interface CopyChunkResult {
  cursor: string;
  done: boolean;
  counters: CopyCounters;
  mode: CopyMode;
  failedKeys: string[];
  /** The worker that ran the chunk. */
  worker?: string;
}

export interface CopyContext {
  spec: ClusterSpec;
  migration: MigrationSpec;
  shard: Shard;
  source: Redis;
  /** The target, on the database the shard's keys go into. */
  map: SlotMap;
  counters: CopyCounters;
  mode: CopyMode;
  failedKeys: string[];
  /** Scanning the source again after it restarted: keys already in the target are left as they are. */
  rescan?: boolean;
  /**
   * A lean connection to the source (bulk.ts) for each batch's expiries, sizes and DUMPs and big values' pieces: through
   * ioredis, their thousands of commands a batch cost the worker more than the copy itself.
   */
  sourceBulk: LazyBulk;
}

/** Lets go of a copy context's connections to the source. */
export function closeCopyContext(ctx: CopyContext): void {
  ctx.source.disconnect();
  ctx.sourceBulk.close();
}

/** Does every target master RESTORE payloads of this RDB version as they are (MIGRATE sends them so)? */
async function everyTargetTakes(map: SlotMap, rdbVersion: number): Promise<boolean> {
  const versions = await Promise.all(
    map.masters().map(async (node) => (await capabilitiesOf(await map.client(node))).rdbVersion),
  );
  return versions.every((target) => acceptsRdbVersion(target, rdbVersion));
}

/** Copies SCAN batches from the shard's cursor until the shard is done or maxMs has passed. */
export async function copyShardChunk(input: CopyChunkInput): Promise<CopyChunkResult> {
  const migration = migrationOf(input.spec);
  const ctx = Context.current();
  const source = await connectShard(input.spec, input.shard);
  const map = targetMap(input.spec);
  const failedKeys: string[] = [];
  const sourceBulk = lazyBulk(() => openShardBulk(input.spec, input.shard));
  try {
    await map.refresh();
    // Resume at the latest of: what the workflow recorded, the last heartbeat, the checkpoint in the target.
    const checkpointKey = checkpointKeyFor(ownerFromActivity(ctx.info, input.firstRunId), input.shard);
    const checkpointOwner = await map.client(map.ownerOf(checkpointKey));
    const stored = await checkpointOwner.get(checkpointKey);
    const start = resumePointOfActivity(
      { cursor: input.cursor, counters: input.counters, mode: input.mode },
      stored ? (JSON.parse(stored) as Checkpoint) : undefined,
    );
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
    // MIGRATE sends the source's own payloads, which a target of an older RDB version (or of the other RDB family)
    // refuses: through the worker, payloads are relabelled, re-encoded or keys rebuilt by type (writes.ts).
    const foreign = !(await everyTargetTakes(map, (await capabilitiesOf(source)).rdbVersion));
    // MIGRATE sends a key under its own name, and this code gives it db 0: a prefix or another db goes by the worker.
    let mode: CopyMode = input.shard.prefix || input.shard.targetDb || foreign ? 'dump-restore' : start.mode;
    const started = Date.now();
    const copy: CopyContext = {
      sourceBulk,
      spec: input.spec,
      migration,
      shard: input.shard,
      source,
      map: shardTarget(map, input.shard),
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
    sourceBulk.close();
  }
}

/** Copies the given keys (base64, or bytes) again, with REPLACE, through the worker. */
export async function recopyKeys(spec: ClusterSpec, shard: Shard, keys: (string | Buffer)[]): Promise<CopyCounters> {
  const migration = { ...migrationOf(spec), conflict: 'replace' as const };
  const source = await connectShard(spec, shard);
  const map = targetMap(spec);
  const counters = zeroCounters();
  const sourceBulk = lazyBulk(() => openShardBulk(spec, shard));
  try {
    await map.refresh();
    const ctx: CopyContext = {
      spec,
      migration,
      shard,
      source,
      map: shardTarget(map, shard),
      counters,
      mode: 'dump-restore',
      failedKeys: [],
      sourceBulk,
    };
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
    sourceBulk.close();
    map.close();
  }
}
