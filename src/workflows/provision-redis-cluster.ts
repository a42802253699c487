/**
 * provisionRedisCluster: turns a cluster spec into a live Redis Cluster, step by step, then copies the old data
 * into it when the spec has a migration section. migrateRedisData does the copy alone, into an existing cluster.
 * Every activity reads the live state first and applies only the difference, so runs can be repeated and resumed.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities, ClusterReport } from '../activities';
import { ErrorType } from '../spec/errors';
import {
  type ClusterSpec,
  type ClusterSpecInput,
  SpecError,
  hostTaskQueue,
  nodesOnHost,
  parseClusterSpec,
} from '../spec/schema';
import {
  type ProvisionProgress,
  type StepName,
  STEPS,
  clusterSearchAttribute,
  progressQuery,
  stepSearchAttribute,
} from './messages';
import { type MigrationReport, copyData, migrationControls, verifyData } from './migrate-data';
import { profiles } from './profiles';

const quick = proxyActivities<Activities>(profiles.quick);
const nodeStart = proxyActivities<Activities>(profiles.nodeStart);
const clusterChange = proxyActivities<Activities>(profiles.clusterChange);

/** How long a host's step waits in its queue before the run shows that host as waiting (and schedules it again). */
const HOST_PICKUP = '10 seconds';

/**
 * A node-local step (fetchConfigs, startNodes) on every host at once, each on its host worker's task queue with the
 * host's nodes only. A host whose worker does not pick it up is listed in progress.waitingForHosts and asked
 * again until its worker comes back; the run waits for it.
 */
async function onEveryHost<R>(
  spec: ClusterSpec,
  progress: ProvisionProgress,
  profile: (typeof profiles)['quick' | 'nodeStart'],
  step: (activities: Activities, hostSpec: ClusterSpec) => Promise<R[]>,
): Promise<R[]> {
  const hosts = [...new Set(spec.nodes.map((node) => node.host))];
  const waiting = new Set<string>();
  const show = () => (progress.waitingForHosts = waiting.size > 0 ? [...waiting].sort() : undefined);
  const results = await Promise.all(
    hosts.map(async (host) => {
      const activities = proxyActivities<Activities>({
        ...profile,
        taskQueue: hostTaskQueue(host),
        scheduleToStartTimeout: HOST_PICKUP,
      });
      for (;;) {
        try {
          const result = await step(activities, nodesOnHost(spec, host));
          waiting.delete(host);
          show();
          return result;
        } catch (err) {
          const timeout = err instanceof ActivityFailure ? err.cause : undefined;
          if (!(timeout instanceof TimeoutFailure) || timeout.timeoutType !== 'SCHEDULE_TO_START') throw err;
          waiting.add(host);
          show();
        }
      }
    }),
  );
  return results.flat();
}

export interface ProvisionResult {
  /** The cluster as verified. */
  report: ClusterReport;
  steps: ProvisionProgress['steps'];
  /** Present when the spec has a migration section. */
  migration?: MigrationReport;
}

export interface MigrateResult {
  steps: ProvisionProgress['steps'];
  migration: MigrationReport;
}

type StepRunner = <T>(name: StepName, run: () => Promise<T>) => Promise<T>;

/** Keeps RedisClusterStep current, only for runs started with RedisCluster set (so it is registered). */
function showStep(value: StepName | 'done' | `failed:${StepName}`): void {
  if (workflowInfo().typedSearchAttributes.get(clusterSearchAttribute) === undefined) return;
  upsertSearchAttributes([{ key: stepSearchAttribute, value }]);
}

/** Progress, its query handler, and a runner that records each step's status, timing and result. */
function tracked(input: ClusterSpecInput): { progress: ProvisionProgress; step: StepRunner } {
  const progress: ProvisionProgress = {
    cluster: typeof input?.name === 'string' ? input.name : '(unnamed)',
    steps: STEPS.map((name) => ({ name, status: 'pending' })),
  };
  setHandler(progressQuery, () => progress);
  const step: StepRunner = async (name, run) => {
    const entry = progress.steps.find((s) => s.name === name)!;
    const started = Date.now();
    progress.currentStep = name;
    showStep(name);
    entry.status = 'running';
    entry.startedAt = new Date(started).toISOString();
    try {
      const result = await run();
      entry.status = 'done';
      entry.result = result;
      return result;
    } catch (err) {
      entry.status = 'failed';
      showStep(`failed:${name}`);
      entry.error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw err;
    } finally {
      entry.durationMs = Date.now() - started;
    }
  };
  return { progress, step };
}

function validated(input: ClusterSpecInput, step: StepRunner): Promise<ClusterSpec> {
  return step('validate', async () => {
    try {
      return parseClusterSpec(input);
    } catch (err) {
      if (err instanceof SpecError)
        throw ApplicationFailure.create({
          type: ErrorType.InvalidSpec,
          message: err.message,
          nonRetryable: true,
          details: [err.problems],
        });
      throw err;
    }
  });
}

function skip(progress: ProvisionProgress, names: StepName[]): void {
  for (const entry of progress.steps) if (names.includes(entry.name)) entry.status = 'skipped';
}

async function migrate(spec: ClusterSpec, progress: ProvisionProgress, step: StepRunner): Promise<MigrationReport> {
  progress.migration = migrationControls(spec);
  const copied = await step('migrateData', () => copyData(spec, progress.migration!));
  return step('verifyData', () => verifyData(spec, copied, progress.migration!));
}

export async function provisionRedisCluster(input: ClusterSpecInput): Promise<ProvisionResult> {
  const { progress, step } = tracked(input);
  const spec = await validated(input, step);
  progress.cluster = spec.name;

  // Read-only preflight first: a node we must not touch stops the run before anything is written or started.
  await step('inspectNodes', () => quick.inspectNodes(spec));
  if (spec.hostWorkers) {
    await step('fetchConfigs', () => onEveryHost(spec, progress, profiles.quick, (a, s) => a.fetchConfigs(s)));
    await step('startNodes', () => onEveryHost(spec, progress, profiles.nodeStart, (a, s) => a.startNodes(s)));
  } else {
    await step('fetchConfigs', () => quick.fetchConfigs(spec));
    await step('startNodes', () => nodeStart.startNodes(spec));
  }
  // Slots before the meeting, as redis-cli does: the first handshake then carries them (no gossip wait).
  await step('assignSlots', () => clusterChange.assignSlots(spec));
  await step('formCluster', () => clusterChange.formCluster(spec));
  await step('replicateNodes', () => clusterChange.replicateNodes(spec));
  await step('setNoFailover', () => clusterChange.setNoFailover(spec));
  const report = await step('verifyCluster', () => clusterChange.verifyCluster(spec));
  let migration: MigrationReport | undefined;
  if (spec.migration) migration = await migrate(spec, progress, step);
  else skip(progress, ['migrateData', 'verifyData']);
  progress.currentStep = undefined;
  showStep('done');
  return { report, steps: progress.steps, migration };
}

/** Copies the spec's migration source into the existing cluster the spec names (its masters are the target). */
export async function migrateRedisData(input: ClusterSpecInput): Promise<MigrateResult> {
  const { progress, step } = tracked(input);
  const spec = await validated(input, step);
  progress.cluster = spec.name;
  if (!spec.migration)
    throw ApplicationFailure.create({
      type: ErrorType.InvalidSpec,
      message: 'migration: required by migrateRedisData',
      nonRetryable: true,
    });
  skip(
    progress,
    STEPS.filter((name) => name !== 'validate' && name !== 'migrateData' && name !== 'verifyData'),
  );
  const migration = await migrate(spec, progress, step);
  progress.currentStep = undefined;
  showStep('done');
  return { steps: progress.steps, migration };
}
