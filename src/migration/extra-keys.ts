/**
 * Keys the target holds that no source holds (any more): after a snapshot of a source that deleted keys while it was
 * copied, they are differences too. Each target key is looked up in the shards it can come from (by database prefix).
 */
import { type BulkConnection, ReplyError } from '../redis/bulk';
import { printableKey } from '../redis/compare';
import { capabilitiesOf, expireAtFrom, expiryCommand } from '../redis/servers';
import { type SlotMap, groupByOwner, redirection } from '../redis/slot-map';
import { type ClusterSpec, VERIFY_DIFFERENCES_LIMIT } from '../model';
import { heartbeat } from '../runtime/context';
import { type Shard, migrationOf, openShardBulk } from './sources';
import { isInternalKey, scanMasters, targetMap } from './target';
import { type KeyDifference, SETTLE_ROUNDS, type Settle } from './verify';

export interface ExtraKeys {
  /** Target keys looked up in the sources. */
  checked: number;
  /** Keys found only in the target and removed (with `remove`). */
  removed?: number;
  /** Target keys (base64) that no source holds, with the reason; at most VERIFY_DIFFERENCES_LIMIT. */
  differences: KeyDifference[];
  differencesFound: number;
}

/** Looks target keys up in the shards they can come from (by database prefix), with open source connections. */
class SourceLookup {
  private readonly connections = new Map<string, Promise<BulkConnection>>();
  constructor(
    private readonly spec: ClusterSpec,
    private readonly shards: Shard[],
  ) {}

  /** The shards a target key can come from, and its name there: the longest prefix that matches wins. */
  private origins(key: Buffer): { shards: Shard[]; sourceKey: Buffer } | undefined {
    let best: Shard[] = [];
    let length = -1;
    for (const shard of this.shards) {
      const prefix = Buffer.from(shard.prefix);
      if (!key.subarray(0, prefix.length).equals(prefix) || prefix.length < length) continue;
      if (prefix.length > length) best = [];
      best.push(shard);
      length = prefix.length;
    }
    return best.length > 0 ? { shards: best, sourceKey: key.subarray(length) } : undefined;
  }

  private connection(shard: Shard): Promise<BulkConnection> {
    let opening = this.connections.get(shard.id);
    if (!opening) {
      opening = openShardBulk(this.spec, shard);
      this.connections.set(shard.id, opening);
    }
    return opening;
  }

  /** The target keys (of `keys`) that no shard they can come from holds. */
  async missingFromSources(keys: Buffer[]): Promise<Buffer[]> {
    const found = new Set<Buffer>();
    const byShard = new Map<Shard, { key: Buffer; sourceKey: Buffer }[]>();
    for (const key of keys) {
      const origin = this.origins(key);
      if (!origin) {
        found.add(key); // no mapped source database: not a key this migration copies
        continue;
      }
      for (const shard of origin.shards) {
        const list = byShard.get(shard);
        if (list) list.push({ key, sourceKey: origin.sourceKey });
        else byShard.set(shard, [{ key, sourceKey: origin.sourceKey }]);
      }
    }
    await Promise.all(
      [...byShard].map(async ([shard, items]) => {
        const replies = await (await this.connection(shard)).exec(items.map((i) => ['EXISTS', i.sourceKey]));
        items.forEach((item, i) => {
          const reply = replies[i];
          // A source cluster's other masters answer MOVED: the key is not theirs.
          if (reply instanceof ReplyError) {
            if (redirection(reply) === 'MOVED') return;
            throw new Error(`looking keys up in ${shard.id}: ${reply.message}`, { cause: reply });
          }
          if (reply === 1) found.add(item.key);
        });
      }),
    );
    return keys.filter((key) => !found.has(key));
  }

  close(): void {
    for (const opening of this.connections.values())
      void opening.then(
        (c) => c.close(),
        () => undefined,
      );
  }
}

/** The keys of `keys` the target still holds. */
async function stillIn(map: SlotMap, keys: Buffer[], toleranceMs: number): Promise<Buffer[]> {
  const present: Buffer[] = [];
  for (const [owner, group] of groupByOwner(keys, map, (k) => k)) {
    const connection = await map.bulk(owner);
    const server = await capabilitiesOf(await map.client(owner));
    const sentAt = Date.now();
    const replies = await connection.execOrThrow(
      group.map((k) => expiryCommand(server, k)),
      'looking keys up',
    );
    // Expiring now (its source copy may just have expired first) is not a key the source lacks.
    group.forEach((key, i) => {
      const expireAt = expireAtFrom(server, replies[i], sentAt);
      if (expireAt === -1 || expireAt - Date.now() > toleranceMs) present.push(key);
    });
  }
  return present;
}

/**
 * Keys the target holds and no source does (any more): after a snapshot of a source that deleted keys while it was
 * copied, they are differences too. Scans every target master, or looks up only the target keys named (base64).
 * With `remove` (only when everything in the target came from these sources), they are removed as found, each
 * looked up in the sources once more right before.
 */
export async function findExtraKeys(
  spec: ClusterSpec,
  shards: Shard[],
  keys?: string[],
  remove = false,
  settle?: Settle,
): Promise<ExtraKeys> {
  const base = targetMap(spec);
  const result: ExtraKeys = { checked: 0, removed: 0, differences: [], differencesFound: 0 };
  const tolerance = migrationOf(spec).ttlToleranceMs;
  try {
    await base.refresh();
    // Each target database holds the keys of the shards copied into it (migration.source.databases).
    for (const db of new Set(shards.map((shard) => shard.targetDb ?? 0))) {
      const lookup = new SourceLookup(
        spec,
        shards.filter((shard) => (shard.targetDb ?? 0) === db),
      );
      try {
        await extraKeysIn(base.onDatabase(db), lookup, result, { keys, remove, settle, tolerance });
      } finally {
        lookup.close();
      }
    }
    return result;
  } finally {
    base.close();
  }
}

/** findExtraKeys in one target database. */
async function extraKeysIn(
  map: SlotMap,
  lookup: SourceLookup,
  result: ExtraKeys,
  options: { keys?: string[]; remove: boolean; settle?: Settle; tolerance: number },
): Promise<void> {
  const { keys, remove, settle, tolerance } = options;
  const check = async (batch: Buffer[]) => {
    const own = batch.filter((key) => !isInternalKey(key));
    result.checked += own.length;
    let extra = await stillIn(map, await lookup.missingFromSources(own), tolerance);
    for (let round = 0; settle && round < SETTLE_ROUNDS && extra.length > 0; round++) {
      // A key the source deleted a moment ago is still in a live mirror until the stream gets there.
      await settle();
      extra = await lookup.missingFromSources(await stillIn(map, extra, tolerance));
    }
    if (remove && extra.length > 0) {
      extra = await lookup.missingFromSources(extra);
      for (const [owner, group] of groupByOwner(extra, map, (k) => k))
        await (
          await map.bulk(owner)
        ).execOrThrow(
          group.map((k) => ['UNLINK', k]),
          'removing keys no source holds',
        );
      result.removed! += extra.length;
      extra = [];
    }
    for (const key of extra) {
      result.differencesFound++;
      if (result.differences.length < VERIFY_DIFFERENCES_LIMIT)
        result.differences.push({
          key: key.toString('base64'),
          printable: printableKey(key),
          reason: 'in the target, but in no source',
        });
    }
    heartbeat({ checked: result.checked });
  };
  if (keys)
    await check(
      await stillIn(
        map,
        keys.map((k) => Buffer.from(k, 'base64')),
        tolerance,
      ),
    );
  else for await (const { keys: batch } of scanMasters(map)) await check(batch);
}
