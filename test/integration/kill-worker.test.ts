/**
 * Kill and restart: the worker process is SIGKILLed while a cluster step's activity runs; a new worker process
 * picks the same workflow run up and it completes with the exact cluster of the spec.
 */
import { RedisClusterClient } from '../../src/client';
import type { ClusterSpec } from '../../src/model';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { type Stack, seedTopology, startStack } from '../helpers/stack';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

let stack: Stack;
let spec: ClusterSpec;
let client: RedisClusterClient;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  stack = await startStack('kill');
  spec = await seedTopology(stack, 'kill');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
});

afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  await client?.close();
  await stack?.stop();
});

test('SIGKILL of the worker during replicateNodes: a new worker completes the same run', async () => {
  const first = startWorkerProcess(stack.temporal.address);
  workers.push(first);
  await first.ready;
  const handle = await client.provision(spec);
  const runId = handle.firstExecutionRunId;

  // Watch the server's view of pending activities, and kill the worker while replicateNodes is running on it.
  const deadline = Date.now() + 60_000;
  let killedDuring: string | undefined;
  while (Date.now() < deadline && !killedDuring) {
    const { raw } = await handle.describe();
    const running = (raw.pendingActivities ?? []).find(
      (a) => a.activityType?.name === 'replicateNodes' && String(a.state) !== '1', // 1 = SCHEDULED
    );
    if (running) {
      await killWorker(first);
      killedDuring = running.activityType!.name!;
    } else await new Promise((r) => setTimeout(r, 10));
  }
  expect(killedDuring).toBeDefined();

  const second = startWorkerProcess(stack.temporal.address);
  workers.push(second);
  await second.ready;
  const result = await client.result(spec.name);
  const description = await client.handle(spec.name).describe();
  expect(description.runId).toBe(runId);
  expect(description.status.name).toBe('COMPLETED');
  expect(result.report.problems).toEqual([]);
  await expectRunbookCluster(spec);

  // The killed step really was cut off and run again by the second worker.
  const history = await client.handle(spec.name).fetchHistory();
  const attempts = (history.events ?? [])
    .filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => e.activityTaskStartedEventAttributes!.attempt ?? 1);
  expect(Math.max(...attempts)).toBeGreaterThan(1);
});
