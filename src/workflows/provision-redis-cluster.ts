/**
 * provisionRedisCluster: turns a cluster spec into a live Redis Cluster, step by step, then copies the old data
 * into it when the spec has a migration section. Every activity reads the live state first and applies only the
 * difference, so runs can be repeated and resumed; a long run continues as new (see run.ts).
 */
import { continueAsNew, patched } from '@temporalio/workflow';
import type { ClusterReport } from '../activities';
import type { ProvisionProgress } from '../model/progress';
import type { ClusterSpecInput } from '../model/schema';
import { Approvals } from './approvals';
import { onEveryHost } from './hosts';
import { type MigrationReport, migrate } from './migrate-redis-data';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import { type Carried, Run } from './run';
import { moveSlotsInChunks, slotMoveControls } from './slot-moves';

const quick = summarizedActivities(profiles.quick);
const configFetch = summarizedActivities(profiles.configFetch);
const nodeStart = summarizedActivities(profiles.nodeStart);
const clusterChange = summarizedActivities(profiles.clusterChange);

export interface ProvisionResult {
  /** The cluster as verified. */
  report: ClusterReport;
  steps: ProvisionProgress['steps'];
  /** Present when the spec has a migration section. */
  migration?: MigrationReport;
}

/** `carried` is for the workflow itself: what a run hands to the next one when it continues as new. */
export async function provisionRedisCluster(input: ClusterSpecInput, carried?: Carried): Promise<ProvisionResult> {
  const run = new Run(input, carried, (next) => continueAsNew<typeof provisionRedisCluster>(input, next));
  // The only destructive step of provisioning, removeNodes, waits for the `approve` update (`remove`).
  const approvals = new Approvals(run);
  const moving = slotMoveControls(run);
  const spec = await run.validated(input);

  // Read-only preflight first: a node we must not touch stops the run before anything is written or started.
  await run.step('inspectNodes', () => quick.inspectNodes(spec));
  if (spec.hostWorkers) {
    await run.step('fetchConfigs', () => onEveryHost(spec, run, profiles.configFetch, (a, s) => a.fetchConfigs(s)));
    await run.step('startNodes', () => onEveryHost(spec, run, profiles.nodeStart, (a, s) => a.startNodes(s)));
  } else {
    await run.step('fetchConfigs', () => configFetch.fetchConfigs(spec));
    await run.step('startNodes', () => nodeStart.startNodes(spec));
  }
  // Slots before the meeting, as redis-cli does: the first handshake then carries them (no gossip wait).
  await run.step('assignSlots', () => clusterChange.assignSlots(spec));
  await run.step('formCluster', () => clusterChange.formCluster(spec));
  // Slots the spec gives to another master than their owner, and half-moved slots (runs before this step had none).
  if (patched('move-slots')) await run.step('moveSlots', () => moveSlotsInChunks(spec, moving, run));
  else run.skip(['moveSlots']);
  await run.step('replicateNodes', () => clusterChange.replicateNodes(spec));
  await run.step('setNoFailover', () => clusterChange.setNoFailover(spec));
  // The spec's `remove` nodes, emptied by moveSlots: forgotten, reset and stopped once approved (runs before had none).
  if (patched('remove-nodes'))
    await run.step('removeNodes', async () => {
      const plan = await quick.planRemovals(spec);
      await approvals.wait('remove', plan.changes);
      return clusterChange.removeNodes(spec, plan.ids);
    });
  else run.skip(['removeNodes']);
  const report = await run.step('verifyCluster', () => clusterChange.verifyCluster(spec));
  let migration: MigrationReport | undefined;
  if (spec.migration) migration = await migrate(spec, run);
  else run.skip(['migrateData', 'verifyData']);
  run.finish();
  return { report, steps: run.progress.steps, migration };
}
