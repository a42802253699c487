/**
 * The runbook's cluster, end to end: configs from a real S3-compatible server, 8 real redis-server processes,
 * the real worker on a real Temporal dev server. Everything is asserted from the live nodes.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { RedisClusterClient } from '../../src/client';
import type { FetchConfigsResult, StartNodesResult } from '../../src/activities';
import type { ClusterSpec } from '../../src/model';
import { createWorker } from '../../src/worker';
import { expectRunbookCluster, liveState } from '../helpers/cluster-assert';
import { type Stack, seedTopology, startStack, workflowBundle } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

let stack: Stack;
let spec: ClusterSpec;
let client: RedisClusterClient;

beforeAll(async () => {
  stack = await startStack('provision');
  spec = await seedTopology(stack);
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
});

afterAll(async () => {
  await client?.close();
  await stack?.stop();
});

async function provisionWithWorker() {
  const { worker, connection } = await createWorker({
    address: stack.temporal.address,
    workflowBundle: await workflowBundle(),
  });
  try {
    return await worker.runUntil(async () => {
      await client.provision(spec);
      return client.result(spec.name);
    });
  } finally {
    await connection.close();
  }
}

test('provisions the runbook cluster exactly, and a second run changes nothing', async () => {
  const first = await provisionWithWorker();
  expect(first.report.problems).toEqual([]);
  expect(first.report.currentEpoch).toBe(4);
  // No migration section: the two migration steps are skipped, every other step done.
  expect(first.steps.map((s) => `${s.name}:${s.status}`)).toEqual(
    first.steps.map((s) => `${s.name}:${s.name === 'migrateData' || s.name === 'verifyData' ? 'skipped' : 'done'}`),
  );
  const live = await expectRunbookCluster(spec);

  const second = await provisionWithWorker();
  const after = await liveState(spec);
  expect(after.map((s) => s.myId)).toEqual(live.map((s) => s.myId));
  expect(after.map((s) => s.info.cluster_current_epoch)).toEqual(Array(8).fill('4'));
  expect(after.map((s) => s.nodes.map((n) => `${n.id}:${n.configEpoch}`).sort())).toEqual(
    live.map((s) => s.nodes.map((n) => `${n.id}:${n.configEpoch}`).sort()),
  );
  const stepResult = (name: string) => second.steps.find((s) => s.name === name)!.result as { changes: unknown[] };
  for (const step of ['fetchConfigs', 'startNodes', 'assignSlots', 'formCluster', 'replicateNodes', 'setNoFailover'])
    expect([step, stepResult(step).changes]).toEqual([step, []]);
  expect((stepResult('startNodes') as unknown as StartNodesResult).nodes.map((r) => r.action)).toEqual(
    Array(8).fill('already-running'),
  );
  expect(
    (stepResult('fetchConfigs') as unknown as FetchConfigsResult).configs.every((r) => r.action !== 'written'),
  ).toBe(true);
  await expectRunbookCluster(spec);
});
