/**
 * Verification after a snapshot copy: compare (a sample, or every key when counts differ), copy differences again
 * as they are found, look for keys only the target holds, and check that the source stood still meanwhile. What
 * still differs fails the run with DataVerifyFailed, listed and counted; it never reports success over differences.
 */
import { ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import type { ExtraKeys, KeyDifference, MigrationPlan, Shard, ShardVerification } from '../activities';
import { ErrorType } from '../model/errors';
import type {
  CutoverReport,
  MigrationProgress,
  MigrationServers,
  ShardProgress,
  SyncShardProgress,
} from '../model/progress';
import type { ClusterSpec } from '../model/schema';
import { type SourceChange, type WriteStamp, describeSourceChanges, sourceChange } from '../model/source-writes';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import { verifyDataBeforeFullReport } from './verify-phase-before-full-report';

const planning = summarizedActivities(profiles.migrationCheck);

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
  /** Engine, version and RDB version of every source node and target master. */
  servers?: MigrationServers;
  /** Live mode: how each source master was followed, and the cutover. */
  mode?: 'snapshot' | 'live';
  sync?: SyncShardProgress[];
  cutover?: CutoverReport;
}

/** What the copy hands to verification. */
export interface CopiedData {
  plan: MigrationPlan;
  shards: Shard[];
  failedKeys: Record<string, string[]>;
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
  await planning.clearCheckpoints(spec, shards, workflowInfo().firstExecutionRunId);
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
    servers: plan.servers,
    shards: progress.shards.map((s) => ({ ...s, failedKeys: failedKeys[s.shard] ?? [] })),
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
