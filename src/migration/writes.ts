/**
 * Reading a batch from the source and writing it into the target: MIGRATE from the source straight to each owner
 * (the fast path), DUMP/RESTORE through the worker, piece by piece for big keys; redirections followed.
 */
import { clusterAuth } from '../redis/connection';
import { printableKey } from '../redis/compare';
import { capabilitiesOf, expireAtFrom, expiryCommand, payloadRdbVersion } from '../redis/servers';
import { dumpPayload } from './sync/rdb';
import { ReplyError } from '../redis/bulk';
import { sendFollowingRedirects } from '../redis/redirects';
import { groupByOwner, splitAddress } from '../redis/slot-map';
import {
  ErrorType,
  MODULE_TYPES,
  type ServerCapabilities,
  acceptsRdbVersion,
  describeServer,
  payloadVersionFor,
  typeOfByte,
} from '../model';
import { valueForTarget } from './sync/downgrade';
import { fail, heartbeat, log } from '../runtime/context';
import { PAYLOAD_SLICE_BYTES, isRedisReply, repliesOrThrow, slicesByBytes } from './batches';
import type { CopyContext } from './copy';
import { copyPieceByPiece } from './piece-by-piece';
import { targetKey } from './sources';

const PAYLOAD_REJECTED = /payload version or checksum are wrong/i;

export interface BatchKey {
  key: Buffer;
  /** Absolute expiry in ms: -1 without expiry. */
  expireAt: number;
  big: boolean;
  /** MEMORY USAGE (sampled); bounds the payload bytes held in the worker at once. */
  bytes: number;
  /** DUMP payload, read ahead when copying through the worker. */
  payload?: Buffer;
}

/** One SCAN batch read from the source; side-effect free, so it can run ahead of the writes. */
export interface ReadBatch {
  cursor: string;
  scanned: number;
  /** Deleted or expired since SCAN saw them. */
  gone: number;
  keys: BatchKey[];
}

export async function readBatch(ctx: CopyContext, cursor: string): Promise<ReadBatch> {
  const [next, keys] = await ctx.source.scanBuffer(cursor, 'COUNT', ctx.migration.batchSize);
  return readKeys(ctx, next.toString(), keys);
}

/** Expiry, size and (through the worker) the payload of each key. */
export async function readKeys(ctx: CopyContext, cursor: string, keys: Buffer[]): Promise<ReadBatch> {
  const batch: ReadBatch = { cursor, scanned: keys.length, gone: 0, keys: [] };
  if (keys.length === 0) return batch;
  const server = await capabilitiesOf(ctx.source);
  const commands: (string | Buffer)[][] = [];
  for (const key of keys) {
    commands.push(expiryCommand(server, key));
    // Default sampling: exact sizes would walk every element of every big key.
    commands.push(['MEMORY', 'USAGE', key]);
  }
  const what = `reading keys from the source ${ctx.shard.id}`;
  const sentAt = Date.now();
  const replies = await (await ctx.sourceBulk.get()).execOrThrow(commands, what);
  keys.forEach((key, i) => {
    const expireAt = expireAtFrom(server, replies[2 * i], sentAt);
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

export async function writeBatch(ctx: CopyContext, batch: ReadBatch): Promise<void> {
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
    // The source cannot reach the target, or may not run MIGRATE (a read-only user, or a managed service without it).
    if (/^IOERR|Can't connect|timeout|^NOPERM|unknown command/i.test(message)) {
      if (ctx.migration.copyMode !== 'auto') throw error;
      log.warn('MIGRATE cannot run from the source to the target; copying through the worker from now on', {
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
  const replies = await (
    await ctx.sourceBulk.get()
  ).execOrThrow(
    missing.map((i) => ['DUMP', i.key]),
    `DUMP from the source ${ctx.shard.id}`,
  );
  missing.forEach((item, i) => (item.payload = (replies[i] as Buffer | null) ?? undefined));
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
    [...groupByOwner(live, ctx.map, (i) => targetKey(ctx.shard, i.key))].map(async ([owner, all]) => {
      const group = await restorableOnly(ctx, await capabilitiesOf(await ctx.map.client(owner)), all);
      const commands = group.map((item) => {
        const command: (string | Buffer)[] = [
          'RESTORE',
          targetKey(ctx.shard, item.key),
          String(Math.max(item.expireAt, 0)),
          item.payload!,
        ];
        if (ctx.migration.conflict === 'replace') command.push('REPLACE');
        if (item.expireAt > 0) command.push('ABSTTL');
        return command;
      });
      // On the owner's lean connection (bulk.ts): through an ioredis pipeline, each RESTORE cost the worker an object,
      // a promise and three buffers, and the copy through the worker ran at half the speed of MIGRATE.
      const replies = await (await ctx.map.bulk(owner)).exec(commands);
      for (const [i, item] of group.entries()) {
        const reply = replies[i];
        if (!(reply instanceof ReplyError)) ctx.counters.copied++;
        else await restoreOne(ctx, item.key, item.expireAt, item.payload!, reply);
      }
    }),
  );
}

/**
 * The keys whose payloads this target can RESTORE: as they are where it takes their RDB version, else re-encoded in
 * a form it knows (downgrade.ts) under a version it takes; the others are rebuilt by type, here and now.
 */
async function restorableOnly(ctx: CopyContext, target: ServerCapabilities, items: BatchKey[]): Promise<BatchKey[]> {
  const restorable: BatchKey[] = [];
  for (const item of items) {
    const payload = item.payload!;
    const version = payloadRdbVersion(payload);
    // A server knows every type of the versions it restores; across RDB families a type byte means another thing.
    if (acceptsRdbVersion(target.rdbVersion, version)) {
      restorable.push(item);
      continue;
    }
    const converted = valueForTarget(typeOfByte(payload[0]!, version), payload.subarray(1, -10), target.rdbVersion);
    if (converted) {
      item.payload = dumpPayload(converted.type, converted.value, payloadVersionFor(target.rdbVersion, version));
      restorable.push(item);
    } else if (MODULE_TYPES.has(payload[0]!)) await refuseModuleKey(ctx, item.key);
    else {
      ctx.counters.rebuilt = (ctx.counters.rebuilt ?? 0) + 1;
      await copyPieceByPiece(ctx, item.key, item.expireAt);
    }
  }
  return restorable;
}

/** A module's value: only a target with that module loaded can hold it (RESTORE there works as for any key). */
async function refuseModuleKey(ctx: CopyContext, key: Buffer): Promise<never> {
  const type = await ctx.source.type(key).catch(() => 'unknown');
  const server = describeServer(await capabilitiesOf(ctx.source));
  return fail(
    ErrorType.UnsupportedData,
    `key ${printableKey(key)} of migration source ${ctx.shard.id} (${server}) is of the module type ${type}, which the target cannot load (the module is not loaded there); nothing of it was written`,
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
  // A lost connection to the target is not this key's failure: the activity retries from its checkpoint.
  if (!isRedisReply(firstError)) throw firstError;
  const destination = targetKey(ctx.shard, key);
  const command: (string | Buffer)[] = ['RESTORE', destination, String(Math.max(expireAt, 0)), payload];
  if (ctx.migration.conflict === 'replace') command.push('REPLACE');
  if (expireAt > 0) command.push('ABSTTL');
  const reply = await sendFollowingRedirects(ctx.map, destination, command, {
    first: firstError as ReplyError,
    onWait: (reason) => heartbeat({ waitingFor: reason }),
  });
  if (!(reply instanceof ReplyError)) ctx.counters.copied++;
  else if (MODULE_TYPES.has(payload[0]!)) await refuseModuleKey(ctx, key);
  else if (PAYLOAD_REJECTED.test(reply.message)) await copyPieceByPiece(ctx, key, expireAt);
  else if (/^BUSYKEY/.test(reply.message)) ctx.counters.skipped++;
  else {
    ctx.counters.failed++;
    ctx.failedKeys.push(`${printableKey(key)}: ${reply.message}`);
  }
}
