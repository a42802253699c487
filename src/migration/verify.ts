/**
 * Verification of a copy: does the target hold what the source holds? Keys are compared in batches, pipelined on
 * both sides: DUMP payloads first (equal payloads are equal values), a type-aware digest when they differ (one value
 * can be encoded in several ways) and for big keys, and expiries within the tolerance (keys only the target holds:
 * extra-keys.ts). Memory stays bounded: payloads are read in slices.
 */
import type Redis from 'ioredis';
import { heartbeat, lastHeartbeatDetails, log } from '../runtime/context';
import { parseInfo } from '../redis/cluster-nodes';
import { printableKey } from '../redis/compare';
import { type ClusterSpec, VERIFY_DIFFERENCES_LIMIT } from '../model';
import { repliesOrThrow } from './batches';
import { type Shard, connectShard, migrationOf, openShardBulk, shardTarget } from './sources';
import { targetMap } from './target';
import { ShardComparer } from './shard-comparer';

export interface KeyDifference {
  /** The key, base64 (keys are bytes): the source key, or for keys only the target has, the target key. */
  key: string;
  printable: string;
  reason: string;
}

export interface ShardVerification {
  shard: string;
  sourceKeys: number;
  sourceKeysWithTtl: number;
  checked: number;
  /** Keys that differed, were copied again and then compared equal. */
  repaired?: number;
  /** The first VERIFY_DIFFERENCES_LIMIT differences left. */
  differences: KeyDifference[];
  /** Every difference left, listed or not. */
  differencesFound: number;
  ttlDriftMaxMs: number;
}

/** The keys to compare, batch by batch: the ones named, every key (SCAN), or a random sample. */
/** The checkpoint cursor once every key was compared. */
const DONE = 'done';

/** A batch of keys to compare, and (comparing every key) the SCAN cursor it came from and the one after it. */
interface VerifyBatch {
  keys: Buffer[];
  cursor?: string;
  next?: string;
}

async function* keysToVerify(
  source: Redis,
  sample: number,
  keys?: string[],
  all?: boolean,
  fromCursor = '0',
): AsyncGenerator<VerifyBatch> {
  if (keys) {
    for (let i = 0; i < keys.length; i += 1000)
      yield { keys: keys.slice(i, i + 1000).map((k) => Buffer.from(k, 'base64')) };
  } else if (all) {
    if (fromCursor === DONE) return;
    let cursor = fromCursor;
    do {
      const [next, batch] = await source.scanBuffer(cursor, 'COUNT', 1000);
      yield { keys: batch, cursor, next: next.toString() };
      cursor = next.toString();
    } while (cursor !== '0');
  } else if (sample > 0) {
    const picked = repliesOrThrow(
      await source.pipeline(Array.from({ length: sample * 2 }, () => ['callBuffer', 'RANDOMKEY'])).exec(),
      'RANDOMKEY on the source',
    );
    const unique = new Map<string, Buffer>();
    for (const key of picked as (Buffer | null)[])
      if (key && unique.size < sample) unique.set(key.toString('base64'), key);
    yield { keys: [...unique.values()] };
  }
}

/**
 * Where a comparison of every key got to, heartbeated: a retry goes on from the batch it was in (the keys before it
 * compared, their counts kept) and, within it, from each big key's last piece.
 */
interface VerifyCheckpoint {
  shard: string;
  /** The SCAN cursor of the batch in progress (DONE after the last). */
  cursor: string;
  result: ShardVerification;
  /** Big keys of that batch compared in part: base64 key -> where to go on. */
  pieces: Record<string, string>;
}

function savedCheckpoint(shard: string): VerifyCheckpoint | undefined {
  const details = lastHeartbeatDetails() as { checkpoint?: VerifyCheckpoint } | undefined;
  return details?.checkpoint?.shard === shard ? details.checkpoint : undefined;
}

export interface VerifyShardInput {
  spec: ClusterSpec;
  shard: Shard;
  /** Only these keys (base64); by default a sample, or every key with `all` (or migration.verify.all). */
  keys?: string[];
  all?: boolean;
  /** Copy each differing key again and compare it again, at most this many times, as the comparison goes. */
  repairRounds?: number;
}

/** Copies source keys into the target again (replacing them): the copy engine's, given by the activity. */
export type Recopy = (keys: Buffer[]) => Promise<unknown>;

/**
 * Against a live mirror: waits until the cluster has applied what the sources had when called (false when it could
 * not within its time). A key that differs only because the stream has not reached it yet then compares equal.
 */
export type Settle = () => Promise<boolean>;

/** How often a difference is looked at again after the mirror caught up. */
export const SETTLE_ROUNDS = 3;

/**
 * Compares values, types and expiries of a shard's keys with the target, batch by batch; with repairRounds, copies
 * what differs again and compares it again right away. Lists the first VERIFY_DIFFERENCES_LIMIT differences left and
 * counts them all: a verification never hides what it found.
 */
export async function verifyShardKeys(
  input: VerifyShardInput,
  recopy?: Recopy,
  settle?: Settle,
): Promise<ShardVerification> {
  const { spec, shard } = input;
  const migration = migrationOf(spec);
  const source = await openShardBulk(spec, shard);
  const sourceClient = await connectShard(spec, shard);
  const map = targetMap(spec);
  try {
    await map.refresh();
    const comparer = new ShardComparer(
      source,
      sourceClient,
      shardTarget(map, shard),
      shard,
      migration.bigKeyBytes,
      migration.ttlToleranceMs,
      settle !== undefined,
    );
    const all = input.all || migration.verify.all;
    const saved = all && !input.keys ? savedCheckpoint(shard.id) : undefined;
    if (saved) {
      comparer.resumeAt = new Map(Object.entries(saved.pieces));
      log.info('verify goes on where an earlier attempt got to', { shard: shard.id, keys: saved.result.checked });
    }
    const result: ShardVerification = saved?.result ?? {
      shard: shard.id,
      sourceKeys: 0,
      sourceKeysWithTtl: 0,
      checked: 0,
      repaired: 0,
      differences: [],
      differencesFound: 0,
      ttlDriftMaxMs: 0,
    };
    let cursor = saved?.cursor ?? '0';
    comparer.beat = (comparing) =>
      heartbeat({
        verified: result.checked,
        comparing,
        checkpoint: all
          ? { shard: shard.id, cursor, result, pieces: Object.fromEntries(comparer.inProgress) }
          : undefined,
      });
    for await (const batch of keysToVerify(sourceClient, migration.verify.sample, input.keys, all, cursor)) {
      cursor = batch.cursor ?? cursor;
      const outcome = await comparer.compare(batch.keys);
      result.checked += outcome.checked;
      let left = outcome.differences;
      for (let round = 0; settle && round < SETTLE_ROUNDS && left.length > 0; round++) {
        await settle();
        left = (await comparer.compare(left.map((d) => d.key))).differences;
      }
      for (let round = 0; recopy && round < (input.repairRounds ?? 0) && left.length > 0; round++) {
        await recopy(left.map((d) => d.key));
        const again = await comparer.compare(left.map((d) => d.key));
        result.repaired! += left.length - again.differences.length;
        left = again.differences;
      }
      result.ttlDriftMaxMs = Math.max(result.ttlDriftMaxMs, outcome.ttlDriftMaxMs);
      result.differencesFound += left.length;
      for (const d of left.slice(0, VERIFY_DIFFERENCES_LIMIT - result.differences.length))
        result.differences.push({ key: d.key.toString('base64'), printable: printableKey(d.key), reason: d.reason });
      // '0' after the last batch would mean "from the start" to a retry.
      if (batch.next !== undefined) cursor = batch.next === '0' ? DONE : batch.next;
      comparer.beat();
    }
    const dbInfo = parseInfo((await sourceClient.info('keyspace')) as string)[`db${shard.db}`] ?? '';
    result.sourceKeys = Number(/keys=(\d+)/.exec(dbInfo)?.[1] ?? 0);
    result.sourceKeysWithTtl = Number(/expires=(\d+)/.exec(dbInfo)?.[1] ?? 0);
    return result;
  } finally {
    source.close();
    sourceClient.disconnect();
    map.close();
  }
}

/** The comparison without repair, as earlier runs call it (positional arguments). */
export function verifyShard(spec: ClusterSpec, shard: Shard, keys?: string[], all = false): Promise<ShardVerification> {
  return verifyShardKeys({ spec, shard, keys, all });
}
