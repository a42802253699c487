/**
 * repairRedisCluster: brings a live cluster back to its spec after a node died, with or without its data. Nodes that
 * are down start again from their config; a master that is gone is taken over by its spec replica (approval
 * `takeover`); the ids of nodes that came back empty are forgotten (approval `forget`), and those nodes rejoin as
 * replicas; a spec master that is a replica of its own replica takes its slots back; replicas and nofailover as
 * provisioning leaves them. Re-running provisioning never does the destructive part on its own: only this does.
 */
import { continueAsNew } from '@temporalio/workflow';
import type { ClusterReport, StartMode } from '../activities';
import type { PlannedChange } from '../model/changes';
import { type Approval, type ProvisionProgress, REPAIR_STEPS } from '../model/progress';
import type { ClusterSpecInput } from '../model/schema';
import { Approvals } from './approvals';
import { onEveryHost } from './hosts';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import { Run } from './run';

const quick = summarizedActivities(profiles.quick);
const configFetch = summarizedActivities(profiles.configFetch);
const nodeStart = summarizedActivities(profiles.nodeStart);
const clusterChange = summarizedActivities(profiles.clusterChange);

export interface RepairInput {
  spec: ClusterSpecInput;
  /** Destructive steps approved in advance (automation); otherwise the run waits for the `approve` update. */
  approve?: Approval[];
}

export interface RepairResult {
  /** The cluster as verified: the spec's topology (epochs agree; after a failover they are past provisioning's). */
  report: ClusterReport;
  /** Everything the repair changed, step by step. */
  changes: PlannedChange[];
  steps: ProvisionProgress['steps'];
}

export async function repairRedisCluster(input: RepairInput): Promise<RepairResult> {
  const run = new Run(input.spec, undefined, () => continueAsNew<typeof repairRedisCluster>(input), REPAIR_STEPS);
  const approvals = new Approvals(run, input.approve);
  const spec = await run.validated(input.spec);
  const changes: PlannedChange[] = [];
  const changed = <T extends { changes: PlannedChange[] }>(result: T) => {
    changes.push(...result.changes);
    return result;
  };

  await run.step('inspectNodes', () => quick.inspectRepair(spec));
  // Nodes that lost their data are held down until their old identity is gone (see cluster/nodes.ts).
  const start = (step: 'startNodes' | 'startEmptyNodes', mode: StartMode) =>
    run.step(step, async () =>
      changed(
        spec.hostWorkers
          ? await onEveryHost(spec, run, profiles.nodeStart, (a, s) => a.startNodes(s, mode))
          : await nodeStart.startNodes(spec, mode),
      ),
    );
  if (spec.hostWorkers)
    await run.step('fetchConfigs', () => onEveryHost(spec, run, profiles.configFetch, (a, s) => a.fetchConfigs(s)));
  else await run.step('fetchConfigs', () => configFetch.fetchConfigs(spec));
  const started = await start('startNodes', 'keep-lost');
  const held = started.nodes.filter((n) => n.action === 'held').map((n) => n.node);

  // Each destructive step: the plan read now, shown and approved, then applied to exactly the approved node ids.
  await run.step('takeoverMasters', async () => {
    const plan = await quick.inspectRepair(spec);
    await approvals.wait(
      'takeover',
      plan.changes.filter((c) => c.step === 'takeoverMasters'),
    );
    return changed(await clusterChange.takeoverMasters(spec, plan.takeovers));
  });
  await run.step('forgetLostNodes', async () => {
    const plan = await quick.inspectRepair(spec, held);
    await approvals.wait(
      'forget',
      plan.changes.filter((c) => c.step === 'forgetLostNodes'),
    );
    return changed(await clusterChange.forgetLostNodes(spec, plan.forgets, held));
  });
  await start('startEmptyNodes', 'all');
  await run.step('rejoinNodes', async () => changed(await clusterChange.rejoinNodes(spec)));
  await run.step('restoreRoles', async () => changed(await clusterChange.restoreRoles(spec)));
  await run.step('replicateNodes', async () => changed(await clusterChange.replicateNodes(spec)));
  await run.step('setNoFailover', async () => changed(await clusterChange.setNoFailover(spec)));
  const report = await run.step('verifyCluster', () => clusterChange.verifyRepaired(spec));
  run.finish();
  return { report, changes, steps: run.progress.steps };
}
