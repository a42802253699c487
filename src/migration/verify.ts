/**
 * Verification of a copy: does the target hold what the source holds? Keys are compared in batches, pipelined on
 * both sides: DUMP payloads first (equal payloads are equal values), a type-aware digest when they differ (one value
 * can be encoded in several ways) and for big keys, and expiries within the tolerance (keys only the target holds:
 * extra-keys.ts). Memory stays bounded: payloads are read in slices.
 */
import type Redis from 'ioredis';
import { heartbeat, lastHeartbeatDetails, log } from '../runtime/context';
import { parseInfo } from '../redis/cluster-nodes';
import { compareKey, printableKey } from '../redis/compare';
import { capabilitiesOf, expireAtFrom, expiryCommand } from '../redis/servers';
import { type SlotMap, groupByOwner, redirection } from '../redis/slot-map';
import { type ClusterSpec, VERIFY_DIFFERENCES_LIMIT } from '../model';
import { type BulkConnection, asNumber } from '../redis/bulk';
import { PAYLOAD_SLICE_BYTES, repliesOrThrow, slicesByBytes } from './batches';
import { type Shard, connectShard, migrationOf, openShardBulk, targetKey } from './sources';
import { targetMap } from './target';

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

interface Candidate {
  key: Buffer;
  expireAt: number;
  bytes: number;
}

interface TargetRead {
  expireAt: number;
  dump?: Buffer | null;
}

interface BatchOutcome {
  checked: number;
  differences: { key: Buffer; reason: string }[];
  ttlDriftMaxMs: number;
}

/**
 * Equal payloads up to their RDB version (the last 10 bytes: version and checksum) are equal values: a string dumped
 * by Redis 6.2 and by 7.0 differs only there.
 */
function samePayload(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && a.subarray(0, -10).equals(b.subarray(0, -10));
}

/** Compares keys of one shard with the target: batch connections for the bulk, ioredis for type-aware digests. */
class ShardComparer {
  constructor(
    private readonly source: BulkConnection,
    private readonly sourceClient: Redis,
    private readonly map: SlotMap,
    private readonly shard: Shard,
    private readonly bigKeyBytes: number,
    private readonly ttlToleranceMs: number,
    /** Against a live mirror, filled by the replication stream (see CompareOptions.replicated). */
    private readonly replicated: boolean,
  ) {}

  /** Big keys an earlier attempt compared in part: where each goes on (base64 key -> cursor or index). */
  resumeAt = new Map<string, string>();
  /** Big keys being compared: where each has got to. */
  readonly inProgress = new Map<string, string>();
  /** Heartbeats, with where the comparison is. */
  beat: (comparing?: string) => void = () => undefined;

  async compare(keys: Buffer[]): Promise<BatchOutcome> {
    const outcome: BatchOutcome = { checked: 0, differences: [], ttlDriftMaxMs: 0 };
    if (keys.length === 0) return outcome;
    const server = await capabilitiesOf(this.sourceClient);
    const sentAt = Date.now();
    const meta = await this.source.execOrThrow(
      keys.flatMap((key) => [expiryCommand(server, key), ['MEMORY', 'USAGE', key]]),
      `reading keys of ${this.shard.id}`,
    );
    const candidates = keys
      .map((key, i) => ({
        key,
        expireAt: expireAtFrom(server, meta[2 * i], sentAt),
        bytes: asNumber(meta[2 * i + 1]) || 0,
      }))
      .filter((c) => c.expireAt !== -2); // gone from the source since it was listed
    for (const slice of slicesByBytes(candidates, PAYLOAD_SLICE_BYTES)) await this.compareSlice(slice, outcome);
    return outcome;
  }

  private async compareSlice(slice: Candidate[], outcome: BatchOutcome): Promise<void> {
    const small = slice.filter((c) => c.bytes <= this.bigKeyBytes);
    const dumps = await this.source.execOrThrow(
      small.map((c) => ['DUMP', c.key]),
      `DUMP of keys of ${this.shard.id}`,
    );
    const sourceDump = new Map(small.map((c, i) => [c, dumps[i] as Buffer | null]));
    const target = await this.readTarget(slice, sourceDump);
    const slow: Candidate[] = [];
    for (const c of slice) {
      const dump = sourceDump.get(c);
      if (dump === null) continue; // deleted from the source between the two reads
      outcome.checked++;
      const got = target.get(c)!;
      if (got.expireAt === -2) {
        // Expiring while compared: its absolute expiry passed between the two reads.
        if (!(c.expireAt > 0 && c.expireAt - Date.now() <= this.ttlToleranceMs))
          outcome.differences.push({ key: c.key, reason: 'missing in the target' });
      } else if (dump && got.dump && samePayload(dump, got.dump))
        this.compareExpiry(c.key, c.expireAt, got.expireAt, outcome);
      else slow.push(c);
    }
    // Different payloads, or big keys: compare what the values mean, not how they are encoded.
    await Promise.all(
      slow.map(async (c) => {
        const destination = targetKey(this.shard, c.key);
        const client = await this.map.client(this.map.ownerOf(destination));
        const id = c.key.toString('base64');
        const compared = await compareKey(this.sourceClient, c.key, client, destination, {
          from: this.resumeAt.get(id),
          onPiece: (next) => {
            if (next) this.inProgress.set(id, next);
            this.beat(printableKey(c.key));
          },
          replicated: this.replicated,
        });
        this.inProgress.delete(id);
        this.resumeAt.delete(id);
        const want = compared.source;
        if (want.type === 'none') return;
        // Expiring while compared: a read between TYPE and the value finds it gone on one side.
        if (want.expireAt > 0 && want.expireAt - Date.now() <= this.ttlToleranceMs) return;
        if (compared.difference) outcome.differences.push({ key: c.key, reason: compared.difference });
        else this.compareExpiry(c.key, want.expireAt, compared.target.expireAt, outcome);
      }),
    );
  }

  private compareExpiry(key: Buffer, want: number, got: number, outcome: BatchOutcome): void {
    if (got > 0 !== want > 0) {
      outcome.differences.push({ key, reason: `expiry ${got} in the target, ${want} in the source` });
      return;
    }
    if (want <= 0) return;
    const drift = Math.abs(got - want);
    outcome.ttlDriftMaxMs = Math.max(outcome.ttlDriftMaxMs, drift);
    if (drift > this.ttlToleranceMs) outcome.differences.push({ key, reason: `expiry drifts by ${drift} ms` });
  }

  /** Expiry (and the DUMP payload of small keys) of each key in the target; follows a slot map that changed. */
  private async readTarget(
    slice: Candidate[],
    sourceDump: Map<Candidate, Buffer | null>,
  ): Promise<Map<Candidate, TargetRead>> {
    for (let attempt = 1; ; attempt++) {
      const reads = new Map<Candidate, TargetRead>();
      try {
        await Promise.all(
          [...groupByOwner(slice, this.map, (c) => targetKey(this.shard, c.key))].map(async ([owner, group]) => {
            const connection = await this.map.bulk(owner);
            const server = await capabilitiesOf(await this.map.client(owner));
            const commands = group.flatMap((c) => {
              const key = targetKey(this.shard, c.key);
              return sourceDump.has(c) ? [expiryCommand(server, key), ['DUMP', key]] : [expiryCommand(server, key)];
            });
            const sentAt = Date.now();
            const replies = await connection.execOrThrow(commands, 'reading keys');
            let i = 0;
            for (const c of group) {
              const expireAt = expireAtFrom(server, replies[i++], sentAt);
              reads.set(c, sourceDump.has(c) ? { expireAt, dump: replies[i++] as Buffer | null } : { expireAt });
            }
          }),
        );
        return reads;
      } catch (err) {
        if (attempt >= 3 || !redirection((err as Error).cause)) throw err;
        await this.map.refresh();
      }
    }
  }
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
      map,
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
