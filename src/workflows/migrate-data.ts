/**
 * The migration part of the workflows: plan, copy every shard in parallel in bounded chunks (so that pause,
 * resume and the throttle take effect within seconds and the cursor is recorded after each chunk), then verify
 * and copy differences again.
 */
import { ApplicationFailure, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities, CopyCounters, Shard, ShardVerification } from '../activities';
import { ErrorType } from '../spec/errors';
import { VERIFY_DIFFERENCES_LIMIT } from '../spec/migration';
import { profiles } from './profiles';
import type { ClusterSpec } from '../spec/schema';
import { type MigrationProgress, type ShardProgress, pauseSignal, resumeSignal, throttleUpdate } from './messages';

const planning = proxyActivities<Activities>(profiles.migrationCheck);
const copying = proxyActivities<Activities>(profiles.migrationChunk);

/** How long one copy activity runs before it hands its cursor back. */
const CHUNK_MS = 5000;

export interface MigrationReport {
  shards: (ShardProgress & { failedKeys: string[] })[];
  verification: ShardVerification[];
  recopied: number;
  /** Keys that still differ after copying them again. */
  unequal: { shard: string; key: string; reason: string }[];
  targetKeys: { node: string; keys: number; withTtl: number }[];
}

/** Installs the pause/resume/throttle handlers and returns the progress object they change. */
export function migrationControls(spec: ClusterSpec): MigrationProgress {
  const progress: MigrationProgress = { paused: false, keysPerSecond: spec.migration?.keysPerSecond, shards: [] };
  setHandler(pauseSignal, () => void (progress.paused = true));
  setHandler(resumeSignal, () => void (progress.paused = false));
  setHandler(
    throttleUpdate,
    (keysPerSecond) => {
      progress.keysPerSecond = keysPerSecond ?? undefined;
      return keysPerSecond;
    },
    {
      validator: (keysPerSecond) => {
        if (keysPerSecond !== null && !(keysPerSecond > 0))
          throw new Error('throttle must be a positive number of keys per second, or null');
      },
    },
  );
  return progress;
}

export async function copyData(
  spec: ClusterSpec,
  progress: MigrationProgress,
): Promise<{ shards: Shard[]; failedKeys: Map<string, string[]> }> {
  const migration = spec.migration!;
  const plan = await planning.planMigration(spec);
  const failedKeys = new Map<string, string[]>();
  const shards = await Promise.all(
    plan.shards.map(async (planned) => {
      const shard = planned.rdbObject ? await planning.prepareRdbShard(spec, planned) : planned;
      const entry: ShardProgress = {
        shard: shard.id,
        keysTotal: shard.keys,
        scanned: 0,
        copied: 0,
        skipped: 0,
        failed: 0,
        bigKeys: 0,
        mode: migration.copyMode === 'dump-restore' ? 'dump-restore' : 'migrate',
        rate: 0,
        done: false,
      };
      progress.shards.push(entry);
      const started = Date.now();
      let cursor = '0';
      let counters: CopyCounters = { batches: 0, scanned: 0, copied: 0, skipped: 0, failed: 0, bigKeys: 0 };
      do {
        await condition(() => !progress.paused);
        const result = await copying.copyShardChunk({
          spec,
          shard,
          cursor,
          counters,
          mode: entry.mode,
          keysPerSecond: progress.keysPerSecond ? progress.keysPerSecond / plan.shards.length : undefined,
          maxMs: CHUNK_MS,
        });
        cursor = result.cursor;
        counters = result.counters;
        const { batches: _batches, ...shown } = counters;
        Object.assign(entry, shown, { mode: result.mode, done: result.done });
        failedKeys.set(shard.id, [...(failedKeys.get(shard.id) ?? []), ...result.failedKeys].slice(0, 100));
        const seconds = Math.max((Date.now() - started) / 1000, 0.001);
        entry.rate = Math.round(counters.scanned / seconds);
        entry.etaSeconds =
          entry.keysTotal > 0 && entry.rate > 0
            ? Math.max(0, Math.round((entry.keysTotal - counters.scanned) / entry.rate))
            : undefined;
      } while (!entry.done);
      return shard;
    }),
  );
  return { shards, failedKeys };
}

export async function verifyData(
  spec: ClusterSpec,
  shards: Shard[],
  progress: MigrationProgress,
  failedKeys: Map<string, string[]>,
): Promise<MigrationReport> {
  await planning.clearCheckpoints(spec, shards);
  let verification = await Promise.all(shards.map((shard) => planning.verifyShard(spec, shard)));
  const thorough = patched('verify-all-when-keys-are-missing');
  if (thorough && !spec.migration!.verify.all) {
    // A sample can miss lost keys; fewer keys in the target than in the sources cannot: compare every key then.
    const inTarget = (await planning.countTargetKeys(spec)).reduce((sum, node) => sum + node.keys, 0);
    const inSources = verification.reduce((sum, v) => sum + v.sourceKeys, 0);
    if (inTarget < inSources)
      verification = await Promise.all(shards.map((shard) => planning.verifyShard(spec, shard, undefined, true)));
  }
  let recopied = 0;
  const unequal: MigrationReport['unequal'] = [];
  for (const [i, first] of verification.entries()) {
    const shard = shards[i]!;
    let result = first;
    // Copy the differences again and compare them again; when the list was cut at its limit, there may be more:
    // compare every key again, for a few rounds at most.
    for (let round = 0; result.differences.length > 0 && round < 10; round++) {
      const keys = result.differences.map((d) => d.key);
      recopied += (await planning.recopyKeys(spec, shard, keys)).copied;
      const again = await planning.verifyShard(spec, shard, keys);
      if (!thorough || again.differences.length > 0 || keys.length < VERIFY_DIFFERENCES_LIMIT) {
        unequal.push(...again.differences.map((d) => ({ shard: shard.id, key: d.printable, reason: d.reason })));
        break;
      }
      result = await planning.verifyShard(spec, shard, undefined, true);
    }
  }
  for (const shard of shards) if (shard.rdbObject) await planning.releaseRdbShard(shard);
  const targetKeys = await planning.countTargetKeys(spec);
  const report: MigrationReport = {
    shards: progress.shards.map((s) => ({ ...s, failedKeys: failedKeys.get(s.shard) ?? [] })),
    verification,
    recopied,
    unequal,
    targetKeys,
  };
  if (unequal.length > 0)
    throw ApplicationFailure.create({
      type: ErrorType.DataVerifyFailed,
      message: `${unequal.length} key(s) still differ after copying them again, e.g. ${unequal
        .slice(0, 3)
        .map((u) => `${u.key} (${u.reason})`)
        .join(', ')}`,
      nonRetryable: true,
      details: [report],
    });
  return report;
}
