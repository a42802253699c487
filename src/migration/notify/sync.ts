/**
 * One chunk of a live sync by keyspace notifications (migration.liveMethod "notifications"), for sources that allow
 * no replication. Subscribed first, then a full pass (the first, or after a gap), then every key notified is copied
 * again from the source as it is now (DUMP with its expiry, or removed from the target when the source has it no
 * more), oldest first, a key written many times while it waited copied once. The cutover asks for a drain through
 * the target (drain.ts); a chunk answers once every notification sent before the ask has arrived and been copied.
 * The same chunk input and result as the PSYNC method: the workflow runs either alike.
 */
import { log, cancelled, heartbeat, sleep } from '../../runtime/context';
import { addressText, streamNodeOf } from '../source-master';
import { databaseDestinations, sourceAccess, targetKey } from '../sources';
import { targetMap } from '../target';
import { type CopyContext, closeCopyContext } from '../copy';
import { groupByOwner } from '../../redis/slot-map';
import { groupBy } from '../../model/group-by';
import { readKeys, writeBatch } from '../writes';
import { repliesOrThrow } from '../batches';
import { readStop, syncKeys } from '../sync/checkpoints';
import { checkGeneration, takeGeneration } from '../sync/fence';
import type { SyncChunkInput, SyncChunkResult } from '../sync/sync';
import { type PendingKey, NotificationSession } from './session';
import { copyContextFor, fullPass } from './pass';

/** Keys copied per round; and how long a round waits when few came, so that repeats fold. */
const BATCH = 500;
const FOLD_MS = 20;

interface NotifyState {
  passes: number;
}

/** Copies the keys as the source has them now; removes from the target those it has no more. */
async function copyNotified(
  contexts: (db: number) => Promise<CopyContext>,
  keys: PendingKey[],
  beforeBatch: () => Promise<void>,
): Promise<number> {
  for (const [db, inDb] of groupBy(keys, (k) => k.db)) {
    const names = inDb.map((k) => k.key);
    const ctx = await contexts(db);
    const batch = await readKeys(ctx, '0', names);
    const present = new Set(batch.keys.map((k) => k.key.toString('base64')));
    const gone = names.filter((name) => !present.has(name.toString('base64')));
    await beforeBatch();
    await writeBatch(ctx, batch);
    // One UNLINK per key: the keys of one owner still lie in different slots.
    for (const [owner, group] of groupByOwner(gone, ctx.map, (key) => targetKey(ctx.shard, key)))
      repliesOrThrow(
        await (await ctx.map.client(owner)).pipeline(group.map((key) => ['unlink', targetKey(ctx.shard, key)])).exec(),
        `removing keys the source no longer has from ${owner}`,
      );
  }
  return keys.length;
}

export async function notificationsChunk(input: SyncChunkInput): Promise<SyncChunkResult> {
  const { spec, shard, syncId } = input;
  const started = Date.now();
  const node = await streamNodeOf(spec, shard);
  const name = addressText(node);
  const map = targetMap(spec);
  const contexts = new Map<number, Promise<CopyContext>>();
  const databases = databaseDestinations(spec);
  const contextOf = (db: number) => {
    let ctx = contexts.get(db);
    const to = databases.get(db) ?? { db: 0, prefix: '' };
    if (!ctx) contexts.set(db, (ctx = copyContextFor(spec, map, node, shard.id, db, to)));
    return ctx;
  };
  try {
    await map.refresh();
    const keys = syncKeys(map, syncId, shard.id);
    const generation = await takeGeneration(map, keys);
    const beforeBatch = () => checkGeneration(map, keys, generation);
    const home = await map.client(map.ownerOf(keys.notify));
    const stored = await home.get(keys.notify);
    const state = stored ? (JSON.parse(stored) as NotifyState) : undefined;
    const id = `${syncId}:${shard.id}`;
    let session = NotificationSession.find(id, name);
    let reason: string | undefined;
    let snapshot: SyncChunkResult['snapshot'];
    if (!session) {
      reason = state
        ? `${NotificationSession.whyNotUsable(id, name) ?? 'this worker holds no subscription for it (a new worker, or the chunk ran elsewhere)'}: writes in between were notified to no one, so a full pass compares every key`
        : 'first pass';
      if (state) log.warn('a gap in the notifications: a full pass compares every key', { shard: shard.id, reason });
      // Subscribed before the pass: a key written while it runs is copied again afterwards.
      session = await NotificationSession.open(id, node, sourceAccess(spec), [...databases.keys()]);
      const pass = await fullPass({
        spec,
        map,
        node,
        shardId: shard.id,
        databases,
        compare: state !== undefined,
        removeOthers: state !== undefined && input.ownTarget,
        beforeBatch,
        onStream: (db, key) => session!.addStream({ db, key }),
      });
      await home.set(keys.notify, JSON.stringify({ passes: (state?.passes ?? 0) + 1 } satisfies NotifyState));
      snapshot = {
        keys: pass.keys,
        written: pass.written,
        expired: 0,
        removed: pass.removed,
        waitSeconds: 0,
        seconds: pass.seconds,
      };
      log.info('full pass done', { shard: shard.id, ...pass });
    }
    session.attach();
    session.requeueStreams();
    let copied = 0;
    let stopped = false;
    try {
      for (;;) {
        if (cancelled()) throw new Error(`notifications of ${shard.id}: this attempt was cancelled`);
        if (session.lostReason)
          throw new Error(
            `notifications of ${shard.id} from ${name}: ${session.lostReason}; the next attempt compares every key`,
          );
        // The cutover sets the stop marker only after this sync answered its drain: nothing is left to copy.
        if ((await readStop(map, keys)) !== undefined) {
          stopped = true;
          break;
        }
        const asked = await home.get(keys.drainAsked);
        if (asked !== null && asked !== (await home.get(keys.drained))) {
          await session.caughtUp();
          session.requeueStreams();
          for (let batch = session.take(BATCH); batch.length > 0; batch = session.take(BATCH))
            copied += await copyNotified(contextOf, batch, beforeBatch);
          await home.set(keys.drained, asked);
          continue;
        }
        if (Date.now() - started >= input.maxMs) break;
        const batch = session.take(BATCH);
        if (batch.length > 0) copied += await copyNotified(contextOf, batch, beforeBatch);
        if (batch.length < BATCH) await sleep(FOLD_MS);
        if (input.opsPerSecond) {
          const ahead = copied / input.opsPerSecond - (Date.now() - started) / 1000;
          if (ahead > 0) await sleep(Math.min(ahead * 1000, 1000));
        }
        heartbeat({ copied, pending: session.pendingCount });
      }
    } finally {
      if (stopped) session.close();
      else session.detach();
    }
    return {
      replid: 'notifications',
      offset: session.taken,
      sourceOffset: session.received,
      lagBytes: 0,
      lagSeconds: 0,
      backlogBytes: 0,
      ops: copied,
      seconds: (Date.now() - started) / 1000,
      resync: snapshot ? 'full' : 'partial',
      reason,
      snapshot,
      stopped,
      streamedFrom: name,
      pendingKeys: session.pendingCount,
    };
  } finally {
    for (const ctx of contexts.values()) void ctx.then(closeCopyContext).catch(() => undefined);
    map.close();
  }
}
