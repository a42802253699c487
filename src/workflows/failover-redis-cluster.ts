/**
 * failoverRedisCluster: one master's role to its spec replica. Planned (the master answers): CLUSTER FAILOVER on the
 * replica, which takes over once it has every write. Forced (`force`, the master is down): CLUSTER FAILOVER TAKEOVER,
 * only when the orchestrator cannot reach the master and most other masters flag it failed, and only once approved
 * (`takeover`). A master that answers is never taken over. Failing back to the spec's roles is repairRedisCluster.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { FailoverRequest } from '../activities';
import type { PlannedChange } from '../model/changes';
import { type Approval, FAILOVER_STEPS, type ProvisionProgress } from '../model/progress';
import type { ClusterSpecInput } from '../model/schema';
import { Approvals } from './approvals';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import { Run } from './run';

const quick = summarizedActivities(profiles.quick);
const clusterChange = summarizedActivities(profiles.clusterChange);

export interface FailoverInput extends FailoverRequest {
  spec: ClusterSpecInput;
  /** `takeover` approved in advance (automation); otherwise a forced failover waits for the `approve` update. */
  approve?: Approval[];
}

export interface FailoverResult {
  changes: PlannedChange[];
  steps: ProvisionProgress['steps'];
}

export async function failoverRedisCluster(input: FailoverInput): Promise<FailoverResult> {
  const run = new Run(input.spec, undefined, () => continueAsNew<typeof failoverRedisCluster>(input), FAILOVER_STEPS);
  const approvals = new Approvals(run, input.approve);
  const spec = await run.validated(input.spec);
  const request: FailoverRequest = { master: input.master, force: input.force };
  const { changes } = await run.step('failover', async () => {
    const plan = await quick.planFailover(spec, request);
    if (request.force) await approvals.wait('takeover', plan.changes);
    return clusterChange.failoverMaster(spec, request, plan.takeover);
  });
  run.finish();
  return { changes, steps: run.progress.steps };
}
