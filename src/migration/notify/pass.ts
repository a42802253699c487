/**
 * A full pass over a source master for the notifications method: SCAN every mapped database and copy each key
 * through the worker (DUMP, then RESTORE into its owner), as snapshot mode does. The first pass copies everything.
 * A pass after a gap (the subscription was lost: writes in between were notified to no one) writes only what
 * changed: a key is copied again when the target lacks it, when its DUMP payload differs from the source's (the
 * value encoding, without the version and checksum trailer), or when its expiry differs by more than
 * migration.ttlToleranceMs; big keys (over bigKeyBytes) are copied again in any case. Keys the source no longer has
 * are removed from the target when everything in it came from the sources.
 */
import { type ClusterSpec } from '../../model';
import type { NodeAddress } from '../../redis/connection';
import type { SlotMap } from '../../redis/slot-map';
import { groupByOwner } from '../../redis/slot-map';
import { heartbeat } from '../../runtime/context';
import { repliesOrThrow } from '../batches';
import { zeroCounters } from '../checkpoint';
import { type CopyContext, closeCopyContext } from '../copy';
import { lazyBulk } from '../../redis/bulk';
import {
  type Destination,
  type Shard,
  connectSource,
  migrationOf,
  openSourceBulk,
  shardTarget,
  targetKey,
} from '../sources';
import { type BatchKey, readBatch, writeBatch } from '../writes';
import { removeKeysNotWritten, shardSlots } from '../sync/resync';
import { keyHash } from '../sync/snapshot';

/** A shard's database on the node the notifications come from, ready to copy keys of it. */
export async function copyContextFor(
  spec: ClusterSpec,
  map: SlotMap,
  node: NodeAddress,
  shardId: string,
  db: number,
  to: Destination,
): Promise<CopyContext> {
  const shard: Shard = {
    id: `${shardId}/db${db}`,
    host: node.host,
    port: node.port,
    db,
    prefix: to.prefix,
    targetDb: to.db,
    keys: 0,
  };
  const source = await connectSource(spec, node.host, node.port, db);
  const migration = { ...migrationOf(spec), conflict: 'replace' as const };
  const target = shardTarget(map, shard);
  return {
    spec,
    migration,
    shard,
    source,
    sourceBulk: lazyBulk(() => openSourceBulk(spec, node, db)),
    map: target,
    counters: zeroCounters(),
    mode: 'dump-restore',
    failedKeys: [],
  };
}

export interface PassResult {
  keys: number;
  written: number;
  removed: number;
  seconds: number;
}

/** The keys whose copy in the target differs from the source's (payloads read ahead); big keys always. */
async function changedOnly(ctx: CopyContext, keys: BatchKey[]): Promise<BatchKey[]> {
  const changed = keys.filter((k) => k.big || !k.payload);
  const tolerance = ctx.migration.ttlToleranceMs;
  for (const [owner, group] of groupByOwner(
    keys.filter((k) => !k.big && k.payload),
    ctx.map,
    (k) => targetKey(ctx.shard, k.key),
  )) {
    const client = await ctx.map.client(owner);
    const now = Date.now();
    const pipeline = client.pipeline();
    for (const k of group) pipeline.dumpBuffer(targetKey(ctx.shard, k.key)).pttl(targetKey(ctx.shard, k.key));
    const replies = repliesOrThrow(await pipeline.exec(), `reading the target's copies on ${owner}`);
    group.forEach((k, i) => {
      const payload = replies[2 * i] as Buffer | null;
      const ttl = Number(replies[2 * i + 1]);
      const body = (p: Buffer) => p.subarray(0, p.length - 10);
      const expireAt = ttl >= 0 ? now + ttl : -1;
      const sameExpiry = (expireAt < 0 && k.expireAt < 0) || Math.abs(expireAt - k.expireAt) <= tolerance;
      if (!payload || !body(payload).equals(body(k.payload!)) || !sameExpiry) changed.push(k);
    });
  }
  return changed;
}

/** Copies every key of every mapped database (only what changed, with `compare`). */
export async function fullPass(options: {
  spec: ClusterSpec;
  map: SlotMap;
  node: NodeAddress;
  shardId: string;
  databases: Map<number, Destination>;
  compare: boolean;
  /** Remove the target's keys of this shard that the source no longer has. */
  removeOthers: boolean;
  beforeBatch: () => Promise<void>;
  /** Each stream key of the source (SCAN ... TYPE stream, after the pass). */
  onStream: (db: number, key: Buffer) => void;
}): Promise<PassResult> {
  const started = Date.now();
  const result: PassResult = { keys: 0, written: 0, removed: 0, seconds: 0 };
  const seen = new Set<number>();
  let nodes: unknown;
  for (const [db, to] of options.databases) {
    const ctx = await copyContextFor(options.spec, options.map, options.node, options.shardId, db, to);
    try {
      // A cluster source's master holds only its slots: keys of other slots in the target are not its to remove.
      if (migrationOf(options.spec).source.type === 'cluster') nodes ??= await ctx.source.call('CLUSTER', 'NODES');
      let cursor = '0';
      do {
        const batch = await readBatch(ctx, cursor);
        cursor = batch.cursor;
        for (const k of batch.keys) seen.add(keyHash(targetKey(ctx.shard, k.key), to.db));
        result.keys += batch.keys.length;
        if (options.compare) batch.keys = await changedOnly(ctx, batch.keys);
        result.written += batch.keys.length;
        await options.beforeBatch();
        await writeBatch(ctx, batch);
        heartbeat({ phase: 'pass', keys: result.keys, written: result.written });
      } while (cursor !== '0');
      do {
        const [next, streams] = await ctx.source.scanBuffer(cursor, 'COUNT', 1000, 'TYPE', 'stream');
        cursor = next.toString();
        for (const key of streams) options.onStream(db, key);
      } while (cursor !== '0');
    } finally {
      closeCopyContext(ctx);
    }
  }
  if (options.removeOthers) {
    const destinations = new Map(
      [...options.databases].map(([db, to]) => [
        db,
        { db: to.db, prefix: to.prefix ? Buffer.from(to.prefix) : undefined },
      ]),
    );
    result.removed = await removeKeysNotWritten(options.map, seen, destinations, shardSlots(options.spec, nodes));
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
