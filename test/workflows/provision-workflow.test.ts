/**
 * The workflow alone, with mocked activities, on a real Temporal dev server (the installed CLI binary): step order,
 * what reaches the activities, and how failures end the run.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { type WorkflowHandle, WorkflowFailedError } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Activities, ClusterReport } from '../../src/activities';
import { type ClusterSpecInput, ErrorType } from '../../src/model';
import { STEPS } from '../../src/model';
import { approveUpdate, progressQuery } from '../../src/workflows/messages';
import { rootApplicationFailure } from '../helpers/failures';
import { mockedWorkers } from '../helpers/mocked-workers';
import { localTestEnv } from '../helpers/test-env';

Runtime.install({ logger: new DefaultLogger('WARN') });

let env: TestWorkflowEnvironment;
const seed = JSON.parse(
  readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8'),
) as ClusterSpecInput;
let counter = 0;

beforeAll(async () => {
  env = await localTestEnv();
});

afterAll(async () => {
  await env?.teardown();
});

const report: ClusterReport = {
  name: 'my-redis',
  clusterState: 'ok',
  currentEpoch: 4,
  slotsAssigned: 16384,
  nodes: [],
  mapping: {},
  problems: [],
};

function mockActivities(calls: string[], overrides: Partial<Record<keyof Activities, () => Promise<unknown>>> = {}) {
  // One mock per activity the provisioning steps call (the migration steps are skipped without a migration).
  const names = [
    ...STEPS.filter((step) => !['validate', 'migrateData', 'verifyData'].includes(step)),
    'planRemovals',
  ] as (keyof Activities)[];
  return Object.fromEntries(
    names.map((name) => [
      name,
      async () => {
        calls.push(name);
        const override = overrides[name];
        if (override) return override();
        if (name === 'planRemovals') return { changes: [], ids: [] };
        return name === 'verifyCluster' ? report : { ok: true };
      },
    ]),
  );
}

async function run(input: unknown, activities: object, whileRunning?: (handle: WorkflowHandle) => Promise<void>) {
  const taskQueue = `wf-test-${++counter}`;
  const worker = await mockedWorkers(env.nativeConnection, taskQueue, activities);
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start('provisionRedisCluster', {
      taskQueue,
      workflowId: `wf-${counter}`,
      args: [input],
    });
    await whileRunning?.(handle);
    const outcome = await handle.result().then(
      (value) => ({ value, error: undefined }),
      (error: unknown) => ({ value: undefined, error }),
    );
    return { ...outcome, progress: await handle.query(progressQuery) };
  });
}

test('runs the steps in order, passes the validated spec, and returns the report with timings', async () => {
  const calls: string[] = [];
  const { value, progress } = await run(seed, mockActivities(calls));
  expect(calls).toEqual([
    'inspectNodes',
    'fetchConfigs',
    'startNodes',
    'assignSlots',
    'formCluster',
    'moveSlots',
    'replicateNodes',
    'setNoFailover',
    'planRemovals',
    'removeNodes',
    'verifyCluster',
  ]);
  expect(value).toMatchObject({ report });
  expect(progress.steps.map((s) => `${s.name}:${s.status}`)).toEqual([
    'validate:done',
    'inspectNodes:done',
    'fetchConfigs:done',
    'startNodes:done',
    'assignSlots:done',
    'formCluster:done',
    'moveSlots:done',
    'replicateNodes:done',
    'setNoFailover:done',
    'removeNodes:done',
    'verifyCluster:done',
    'migrateData:skipped',
    'verifyData:skipped',
  ]);
  const ran = progress.steps.filter((s) => s.status === 'done');
  expect(ran.every((s) => typeof s.durationMs === 'number' && s.startedAt)).toBe(true);
});

test('slot moves go on in bounded calls until none is left; nodes are removed only once approved', async () => {
  const calls: string[] = [];
  const chunks = [{ slotsLeft: 700 }, { slotsLeft: 200 }, { slotsLeft: 0 }].map((left, i) => ({
    moves: [{ from: '127.0.0.1:50005', to: 'm1', slots: 100 * (i + 1), keys: 1000 }],
    slots: 100 * (i + 1),
    keys: 1000,
    bigKeys: 0,
    ...left,
  }));
  const removed: unknown[] = [];
  const activities = {
    ...mockActivities(calls, {
      moveSlots: async () => chunks.shift(),
      planRemovals: async () => ({ changes: [{ step: 'removeNodes', change: 'forget master x' }], ids: ['id-x'] }),
    }),
    removeNodes: async (_spec: unknown, ids: unknown) => {
      removed.push(ids);
      return { changes: [] };
    },
  };
  const { value, progress } = await run(seed, activities, async (handle) => {
    let waiting;
    for (let i = 0; i < 100 && !waiting; i++) {
      waiting = (await handle.query(progressQuery)).waitingForApproval;
      if (!waiting) await new Promise((r) => setTimeout(r, 100));
    }
    expect(waiting).toEqual({ approval: 'remove', plan: [{ step: 'removeNodes', change: 'forget master x' }] });
    expect(removed).toEqual([]);
    await handle.executeUpdate(approveUpdate, { args: [['remove']] });
  });
  expect(calls.filter((c) => c === 'moveSlots')).toHaveLength(3);
  expect(removed).toEqual([['id-x']]);
  expect(progress.slotMoves).toMatchObject({ slotsDone: 600, slotsTotal: 600, keysMoved: 3000 });
  expect(
    (value as { steps: { name: string; result: unknown }[] }).steps.find((s) => s.name === 'moveSlots')!.result,
  ).toEqual({
    moves: [{ from: '127.0.0.1:50005', to: 'm1', slots: 600, keys: 3000 }],
    slots: 600,
    keys: 3000,
    bigKeys: 0,
    slotsLeft: 0,
  });
});

test("a server's slot job still running when a call returns shows in the progress until a call sees it end", async () => {
  const calls: string[] = [];
  const job = {
    job: 'j1',
    from: '127.0.0.1:50001',
    to: 'm2',
    slots: 1024,
    state: 'streaming',
    remainingReplSize: 4096,
  };
  const options: unknown[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const activities = {
    ...mockActivities(calls),
    moveSlots: async (_spec: unknown, given: unknown) => {
      options.push(given);
      if (options.length === 1)
        return {
          moves: [{ from: job.from, to: 'm2', slots: 0, keys: 0 }],
          slots: 0,
          keys: 0,
          bigKeys: 0,
          slotsLeft: 1024,
          atomicRunning: job,
        };
      await released; // the second call waits on the job, as the real one does
      const atomic = { job: 'j1', seconds: 7, resumed: true };
      return {
        moves: [{ from: job.from, to: 'm2', slots: 1024, keys: 500, atomic }],
        slots: 1024,
        keys: 500,
        bigKeys: 0,
        slotsLeft: 0,
      };
    },
  };
  const { progress } = await run(seed, activities, async (handle) => {
    let seen;
    for (let i = 0; i < 100 && !seen; i++) {
      seen = (await handle.query(progressQuery)).slotMoves?.atomicJob;
      if (!seen) await new Promise((r) => setTimeout(r, 100));
    }
    expect(seen).toEqual(job);
    release();
  });
  expect(options).toEqual([{ budgetMs: 5000 }, { budgetMs: 5000, following: job }]);
  expect(progress.slotMoves).toMatchObject({ slotsDone: 1024, slotsTotal: 1024, keysMoved: 500, atomicJobs: 1 });
  expect(progress.slotMoves?.atomicJob).toBeUndefined();
});

test('an invalid spec fails the run as InvalidSpec before any activity runs', async () => {
  const calls: string[] = [];
  const bad = { ...seed, nodes: seed.nodes.map((n) => (n.id === 'm2' ? { ...n, slots: ['4000-8191'] } : n)) };
  const { error, progress } = await run(bad, mockActivities(calls));
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const failure = rootApplicationFailure(error);
  expect(failure.type).toBe(ErrorType.InvalidSpec);
  expect(failure.message).toContain('4000-4095 assigned to both m1 and m2');
  expect(calls).toEqual([]);
  expect(progress.steps[0]).toMatchObject({ name: 'validate', status: 'failed' });
});

test('a non-retryable refusal stops the run at once: one attempt, later steps never run', async () => {
  const calls: string[] = [];
  const { error, progress } = await run(
    seed,
    mockActivities(calls, {
      inspectNodes: async () => {
        throw ApplicationFailure.create({
          type: ErrorType.NodeNotEmpty,
          message: 'm2 holds 1 key(s)',
          nonRetryable: true,
        });
      },
    }),
  );
  expect(rootApplicationFailure(error).type).toBe(ErrorType.NodeNotEmpty);
  expect(calls).toEqual(['inspectNodes']);
  expect(progress.currentStep).toBe('inspectNodes');
  expect(progress.steps.find((s) => s.name === 'inspectNodes')).toMatchObject({
    status: 'failed',
    error: 'm2 holds 1 key(s)',
  });
});

test('a transient error is retried and the run goes on', async () => {
  const calls: string[] = [];
  let failures = 0;
  const { value } = await run(
    seed,
    mockActivities(calls, {
      replicateNodes: async () => {
        if (failures++ < 2) throw new Error('connection reset');
        return { attached: [] };
      },
    }),
  );
  expect(value).toBeDefined();
  expect(calls.filter((c) => c === 'replicateNodes')).toHaveLength(3);
  expect(calls[calls.length - 1]).toBe('verifyCluster');
});
