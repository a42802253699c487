/**
 * verifyRedisCluster: the drift check a schedule runs (`rco schedule verify`). Reads only: every difference between
 * the live cluster and its spec, in the result, in RedisClusterStep (`drift:<n>` or `no-drift`, so that
 * `temporal workflow list --query 'RedisClusterStep STARTS_WITH "drift:"'` finds them) and in the rco_cluster_drift
 * metric.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { DriftReport } from '../activities';
import { VERIFY_STEPS } from '../model/progress';
import type { ClusterSpecInput } from '../model/schema';
import { summarizedActivities } from './activities';
import { profiles } from './profiles';
import { Run } from './run';

const quick = summarizedActivities(profiles.quick);

export async function verifyRedisCluster(input: ClusterSpecInput): Promise<DriftReport> {
  const run = new Run(input, undefined, () => continueAsNew<typeof verifyRedisCluster>(input), VERIFY_STEPS);
  const spec = await run.validated(input);
  const report = await run.step('checkDrift', () => quick.checkDrift(spec));
  run.finish(report.drift.length > 0 ? `drift:${report.drift.length}` : 'no-drift');
  return report;
}
