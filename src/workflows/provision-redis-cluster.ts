/**
 * provisionRedisCluster: turns a cluster spec into a live Redis Cluster, step by step. Every activity reads
 * the live state first and applies only the difference, so the workflow can be re-run and resumed.
 */
import {
  ApplicationFailure,
  type ActivityOptions,
  type RetryPolicy,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { Activities, ClusterReport } from '../activities';
import { ErrorType, NON_RETRYABLE_ERROR_TYPES } from '../spec/errors';
import { type ClusterSpec, type ClusterSpecInput, SpecError, parseClusterSpec } from '../spec/schema';
import { type ProvisionProgress, type StepName, STEPS, progressQuery } from './messages';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '15s',
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

/** Timeout and retry profiles, one per kind of activity. Heartbeats make a dead worker visible in seconds. */
export const profiles = {
  quick: { startToCloseTimeout: '1 minute', retry: { ...retry, maximumAttempts: 10 } },
  nodeStart: { startToCloseTimeout: '2 minutes', heartbeatTimeout: '10s', retry: { ...retry, maximumAttempts: 10 } },
  clusterChange: {
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 20 },
  },
} satisfies Record<string, ActivityOptions>;

const quick = proxyActivities<Activities>(profiles.quick);
const nodeStart = proxyActivities<Activities>(profiles.nodeStart);
const clusterChange = proxyActivities<Activities>(profiles.clusterChange);

export interface ProvisionResult {
  report: ClusterReport;
  steps: ProvisionProgress['steps'];
}

export async function provisionRedisCluster(input: ClusterSpecInput): Promise<ProvisionResult> {
  const progress: ProvisionProgress = {
    cluster: typeof input?.name === 'string' ? input.name : '(unnamed)',
    steps: STEPS.map((name) => ({ name, status: 'pending' })),
  };
  setHandler(progressQuery, () => progress);

  async function step<T>(name: StepName, run: () => Promise<T>): Promise<T> {
    const entry = progress.steps.find((s) => s.name === name)!;
    const started = Date.now();
    progress.currentStep = name;
    entry.status = 'running';
    entry.startedAt = new Date(started).toISOString();
    try {
      const result = await run();
      entry.status = 'done';
      entry.result = result;
      return result;
    } catch (err) {
      entry.status = 'failed';
      entry.error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw err;
    } finally {
      entry.durationMs = Date.now() - started;
    }
  }

  const spec: ClusterSpec = await step('validate', async () => {
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
  progress.cluster = spec.name;

  // Read-only preflight first: a node we must not touch stops the run before anything is written or started.
  await step('inspectNodes', () => quick.inspectNodes(spec));
  await step('fetchConfigs', () => quick.fetchConfigs(spec));
  await step('startNodes', () => nodeStart.startNodes(spec));
  // Slots before the meeting, as redis-cli does: the first handshake then carries them (no gossip wait).
  await step('assignSlots', () => clusterChange.assignSlots(spec));
  await step('formCluster', () => clusterChange.formCluster(spec));
  await step('replicateNodes', () => clusterChange.replicateNodes(spec));
  await step('setNoFailover', () => clusterChange.setNoFailover(spec));
  const report = await step('verifyCluster', () => clusterChange.verifyCluster(spec));
  progress.currentStep = undefined;
  return { report, steps: progress.steps };
}
