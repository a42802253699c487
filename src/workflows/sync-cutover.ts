/**
 * The `cutover` update of a live sync: who may ask for it, and what it does. Every key is compared against the live
 * mirror first (a sample, or all); any difference stops the sync without cutting over. Then the sources' writes are
 * held until the target applied everything they took, and the chunks stop.
 */
import { ApplicationFailure, condition } from '@temporalio/workflow';
import type { LiveSyncRef, MigrationPlan, ShardVerification } from '../activities';
import { ErrorType } from '../model/errors';
import type { CutoverReport, CutoverRequest, MigrationProgress, SyncShardProgress } from '../model/progress';
import type { ClusterSpec } from '../model/schema';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';

const planning = summarizedActivities(profiles.migrationCheck);
const control = summarizedActivities(profiles.cutover);

export interface CutoverOutcome {
  report: CutoverReport;
  /** The comparison that came first, when the cutover happened. */
  verification?: ShardVerification[];
  /** Differences found: the run fails with this, and the sync stops. */
  failure?: ApplicationFailure;
}

/** Throws, saying why, when a cutover may not start now (the update's validator: nothing is recorded). */
export function refuseCutover(
  request: CutoverRequest,
  { cutoverRunning, progress }: { cutoverRunning: boolean; progress: MigrationProgress },
): void {
  const budget = request?.pauseBudgetMs ?? 1000;
  if (!(budget >= 10 && budget <= 60_000)) throw new Error('pauseBudgetMs must be between 10 and 60000');
  if (request?.verify !== undefined && request.verify !== 'sample' && request.verify !== 'all')
    throw new Error('verify must be "sample" or "all"');
  if (request?.writesStopped !== undefined && typeof request.writesStopped !== 'boolean')
    throw new Error('writesStopped must be true or false');
  if (cutoverRunning) throw new Error('a cutover is already running');
  if (progress.paused) throw new Error('the sync is paused: resume it first');
  const loading = (progress.sync ?? []).filter((s) => s.phase !== 'streaming').map((s) => `${s.shard} is ${s.phase}`);
  if (loading.length > 0) throw new Error(`not every source is streaming yet (${loading.join(', ')})`);
}

export async function cutOver(
  spec: ClusterSpec,
  plan: MigrationPlan,
  live: LiveSyncRef,
  request: CutoverRequest,
  sync: SyncShardProgress[],
): Promise<CutoverOutcome> {
  const all = request.verify === 'all';
  // Against the live mirror, first: differences are looked at again once the sync caught up.
  const verification = await Promise.all(
    plan.shards.map((shard) => planning.verifyShardKeys({ spec, shard, all, repairRounds: 0, live })),
  );
  const extra =
    all && plan.targetUserKeys === 0
      ? await planning.findExtraKeys(spec, plan.shards, undefined, false, live)
      : undefined;
  const differences = verification.flatMap((v) =>
    v.differences.map((d) => ({ shard: v.shard, key: d.printable, reason: d.reason })),
  );
  if (extra)
    differences.push(...extra.differences.map((d) => ({ shard: 'target', key: d.printable, reason: d.reason })));
  const found = verification.reduce((sum, v) => sum + v.differencesFound, 0) + (extra?.differencesFound ?? 0);
  const report: CutoverReport = {
    done: false,
    writePauseMs: 0,
    offsets: [],
    keysVerified: verification.reduce((sum, v) => sum + v.checked, 0) + (extra?.checked ?? 0),
    differences,
    differencesNotListed: found - differences.length,
  };
  if (found > 0) {
    const failure = ApplicationFailure.create({
      type: ErrorType.DataVerifyFailed,
      message: `the cutover found ${found} key(s) that differ between the sources and the cluster, e.g. ${differences
        .slice(0, 3)
        .map((d) => `${d.key} (${d.reason})`)
        .join(', ')}; the sync was stopped without cutting over`,
      nonRetryable: true,
      details: [report],
    });
    return { report, failure };
  }
  const drained = await control.pauseAndDrain(spec, live, request.pauseBudgetMs ?? 1000, request.writesStopped);
  report.writePauseMs = drained.pausedMs;
  report.paused = drained.paused;
  report.guarantee = drained.guarantee;
  report.offsets = drained.offsets.map(({ shard, source, applied }) => ({ shard, source, applied }));
  if (!drained.reached) return { report: { ...report, reason: drained.reason } };
  await condition(() => sync.every((s) => s.phase === 'done'));
  report.done = true;
  return { report, verification };
}
