/**
 * The migration part of the workflows: plan, copy every shard in parallel in bounded chunks (so that pause,
 * resume and the throttle take effect within seconds and the cursor is recorded after each chunk), then verify
 * and copy differences again.
 */
import { ApplicationFailure, condition, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type {
  Activities,
  CopyCounters,
  ExtraKeys,
  KeyDifference,
  MigrationPlan,
  Shard,
  ShardVerification,
} from '../activities';
import { ErrorType } from '../spec/errors';
import { VERIFY_DIFFERENCES_LIMIT } from '../spec/migration';
import { type SourceChange, type WriteStamp, describeSourceChanges, sourceChange } from '../spec/source-writes';
import { profiles } from './profiles';
import type { ClusterSpec } from '../spec/schema';
import { type MigrationProgress, type ShardProgress, pauseSignal, resumeSignal, throttleUpdate } from './messages';

const planning = proxyActivities<Activities>(profiles.migrationCheck);
const copying = proxyActivities<Activities>(profiles.migrationChunk);

/** How long one copy activity runs before it hands its cursor back. */
const CHUNK_MS = 5000;

export interface MigrationReport {
  shards: (ShardProgress & { failedKeys: string[] })[];
  /** The first comparison of each shard, before any key was copied again. */
  verification: ShardVerification[];
  /** The first search for keys only the target holds (when the target held no data of its own before the copy). */
  extraKeys?: ExtraKeys;
  recopied: number;
  /** Keys removed from the target because no source holds them any more. */
  extraKeysRemoved?: number;
  /** Keys that still differ after the last round (listed up to a limit per shard); "target" for keys only it holds. */
  unequal: { shard: string; key: string; reason: string }[];
  /** Keys that still differ but are not listed in `unequal`. */
  unequalNotListed?: number;
  /** Live sources that took writes (or restarted) while they were copied. */
  sourceChanges?: SourceChange[];
  notes?: string[];
  targetKeys: { node: string; keys: number; withTtl: number }[];
}

/** What the copy hands to verification. */
export interface CopiedData {
  plan: MigrationPlan;
  shards: Shard[];
  failedKeys: Map<string, string[]>;
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

export async function copyData(spec: ClusterSpec, progress: MigrationProgress): Promise<CopiedData> {
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
  return { plan, shards, failedKeys };
}

/**
 * Verifies the copy and copies differences again, round after round; what still differs fails the run with
 * DataVerifyFailed, listed (up to a limit) and counted. It never reports success with differences known.
 */
export async function verifyData(spec: ClusterSpec, copied: CopiedData, progress: MigrationProgress) {
  if (!patched('verify-reports-every-difference'))
    return verifyDataBeforeFullReport(spec, copied.shards, progress, copied.failedKeys);
  const migration = spec.migration!;
  const { plan, shards, failedKeys } = copied;
  await planning.clearCheckpoints(spec, shards);
  const stampsAfter = await planning.readSourceWriteStamps(spec, shards);
  const sourceChanges = changesBetween(plan.writeStamps ?? [], stampsAfter);

  // Each comparison copies what differs again and compares it again, batch by batch, `rounds` times at most.
  const repairRounds = migration.verify.rounds;
  const ownTarget = plan.targetUserKeys === 0;
  const compare = (all: boolean) =>
    Promise.all(shards.map((shard) => planning.verifyShardKeys({ spec, shard, all, repairRounds })));
  let verification = await compare(migration.verify.all);
  const inSources = verification.reduce((sum, v) => sum + v.sourceKeys, 0);
  const inTarget = (await planning.countTargetKeys(spec)).reduce((sum, node) => sum + node.keys, 0);
  // A sample can miss keys; counts that differ cannot: compare every key then, and look for keys only the target has.
  // Those are ours to remove when the target had no data of its own: each came from a source.
  const everyKey = migration.verify.all || inTarget !== inSources;
  if (everyKey && !migration.verify.all) verification = await compare(true);
  let extraKeys = everyKey ? await planning.findExtraKeys(spec, shards, undefined, ownTarget) : undefined;
  // A key written after its batch was compared is not seen: while the source keeps moving, look again, and fail
  // when it still moved during the last look (equality was never established).
  let lookStarted = stampsAfter;
  let writesWhileVerifying: SourceChange[] = [];
  for (let look = 1; look <= repairRounds + 1; look++) {
    const now = await planning.readSourceWriteStamps(spec, shards);
    writesWhileVerifying = changesBetween(lookStarted, now);
    if (writesWhileVerifying.length === 0 || look > repairRounds) break;
    lookStarted = now;
    verification = await compare(true);
    extraKeys = await planning.findExtraKeys(spec, shards, undefined, ownTarget);
  }

  const unequal: MigrationReport['unequal'] = [];
  let unequalNotListed = 0;
  const collect = (shard: string, found: { differences: KeyDifference[]; differencesFound: number }) => {
    unequal.push(...found.differences.map((d) => ({ shard, key: d.printable, reason: d.reason })));
    unequalNotListed += found.differencesFound - found.differences.length;
  };
  verification.forEach((v) => collect(v.shard, v));
  if (extraKeys && ownTarget) collect('target', extraKeys);

  for (const shard of shards) if (shard.rdbObject) await planning.releaseRdbShard(shard);
  const note = describeSourceChanges(sourceChanges);
  const notes = note ? [note] : [];
  const stillMoving = describeSourceChanges(writesWhileVerifying, 'while it was verified');
  if (stillMoving) notes.push(stillMoving);
  if (extraKeys && !ownTarget && extraKeys.differencesFound > 0)
    notes.push(
      `${extraKeys.differencesFound} key(s) in the target are in no source; the target held ${plan.targetUserKeys} key(s) of its own before the copy, so they were left alone`,
    );
  const report: MigrationReport = {
    shards: progress.shards.map((s) => ({ ...s, failedKeys: failedKeys.get(s.shard) ?? [] })),
    verification,
    extraKeys,
    recopied: verification.reduce((sum, v) => sum + (v.repaired ?? 0), 0),
    extraKeysRemoved: extraKeys?.removed ?? 0,
    unequal,
    unequalNotListed,
    sourceChanges,
    notes,
    targetKeys: await planning.countTargetKeys(spec),
  };
  if (unequal.length > 0 || unequalNotListed > 0 || writesWhileVerifying.length > 0) {
    const total = unequal.length + unequalNotListed;
    const examples = unequal
      .slice(0, 3)
      .map((u) => `${u.key} (${u.reason})`)
      .join(', ');
    throw ApplicationFailure.create({
      type: ErrorType.DataVerifyFailed,
      message:
        writesWhileVerifying.length > 0
          ? `the source kept taking writes through ${repairRounds + 1} verification passes, so the copy cannot be shown equal: ${stillMoving}. The last pass found ${total} difference(s)${total > 0 ? `, e.g. ${examples}` : ''}`
          : `${total} key(s) still differ after ${repairRounds} round(s) of copying differences again: ${unequal.length} listed in this failure's details${unequalNotListed > 0 ? `, ${unequalNotListed} more not listed` : ''}; e.g. ${examples}${note ? `. Why: ${note}` : ''}`,
      nonRetryable: true,
      details: [report],
    });
  }
  return report;
}

/** Sources whose stamps moved between two readings. */
function changesBetween(before: WriteStamp[], after: WriteStamp[]): SourceChange[] {
  return after.flatMap((stamp) => {
    const earlier = before.find((b) => b.node === stamp.node);
    const change = earlier && sourceChange(earlier, stamp);
    return change ? [change] : [];
  });
}

/** Verification as it was before every difference was reported (kept for runs recorded then). */
async function verifyDataBeforeFullReport(
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
