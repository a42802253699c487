/**
 * One shard's keys compared with the target, batch by batch: DUMP payloads first (equal payloads are equal values),
 * a type-aware digest where they differ or the key is big, expiries within the tolerance. Used by verify.ts.
 */
import type Redis from 'ioredis';
import { compareKey, printableKey } from '../redis/compare';
import { createMissingIdleConsumers } from '../redis/compare-streams';
import { capabilitiesOf, expireAtFrom, expiryCommand } from '../redis/servers';
import { type SlotMap, groupByOwner, redirection } from '../redis/slot-map';
import { type BulkConnection, asNumber } from '../redis/bulk';
import { PAYLOAD_SLICE_BYTES, slicesByBytes } from './batches';
import { type Shard, targetKey } from './sources';

interface Candidate {
  key: Buffer;
  expireAt: number;
  bytes: number;
}

interface TargetRead {
  expireAt: number;
  dump?: Buffer | null;
}

export interface BatchOutcome {
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
export class ShardComparer {
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
        const compare = () =>
          compareKey(this.sourceClient, c.key, client, destination, {
            from: this.resumeAt.get(id),
            onPiece: (next) => {
              if (next) this.inProgress.set(id, next);
              this.beat(printableKey(c.key));
            },
            replicated: this.replicated,
          });
        let compared = await compare();
        // A live mirror lacks the stream consumers the source never replicated: created, then compared again.
        if (
          compared.difference &&
          compared.source.type === 'stream' &&
          this.replicated &&
          (await createMissingIdleConsumers(this.sourceClient, c.key, client, destination)) > 0
        )
          compared = await compare();
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
