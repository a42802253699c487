/**
 * Verification as it was before every difference was reported: kept, unchanged, for runs recorded with it (their
 * histories replay through this code, test/replay). New runs take verify-phase.ts (patch
 * "verify-reports-every-difference").
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { Shard } from '../activities';
import { ErrorType } from '../model/errors';
import { VERIFY_DIFFERENCES_LIMIT } from '../model/migration';
import type { MigrationProgress } from '../model/progress';
import type { ClusterSpec } from '../model/schema';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import type { MigrationReport } from './verify-phase';

const planning = summarizedActivities(profiles.migrationCheck);

/** Verification as it was before every difference was reported (kept for runs recorded then). */
export async function verifyDataBeforeFullReport(
  spec: ClusterSpec,
  shards: Shard[],
  progress: MigrationProgress,
  failedKeys: Record<string, string[]>,
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
    shards: progress.shards.map((s) => ({ ...s, failedKeys: failedKeys[s.shard] ?? [] })),
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
