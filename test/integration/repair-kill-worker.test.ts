/**
 * A repair survives its worker: a master loses its data, the repair (approvals given in advance) runs on a worker
 * process that is SIGKILLed in each step it is seen running; a new worker each time, and the same run completes with
 * the spec's roles and every acknowledged key.
 */
import type { RepairResult } from '../../src/client';
import { RedisClusterClient } from '../../src/client';
import type { ClusterSpec } from '../../src/model';
import { dayTwo } from '../helpers/day-two';
import { type Stack, seedTopology, startStack } from '../helpers/stack';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

let stack: Stack;
let spec: ClusterSpec;
let client: RedisClusterClient;
const workers: WorkerProcess[] = [];

async function newWorker(): Promise<WorkerProcess> {
  const worker = startWorkerProcess(stack.temporal.address);
  workers.push(worker);
  await worker.ready;
  return worker;
}

beforeAll(async () => {
  stack = await startStack('repair-kill');
  spec = await seedTopology(stack, 'repair-kill');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
});

afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  await client?.close();
  await stack?.stop();
});

const STEPS = ['startNodes', 'takeoverMasters', 'forgetLostNodes', 'rejoinNodes', 'restoreRoles', 'verifyRepaired'];

test('SIGKILL of the worker in each repair step it is seen in: the same run completes', async () => {
  let worker = await newWorker();
  await client.provision(spec);
  await client.result(spec.name);
  const d = dayTwo(spec, stack.stateDir);
  const { m3: oldId } = await d.breakNodes('k', { lost: ['m3'] }, 200);

  const handle = await client.repair(spec, { approve: ['takeover', 'forget'] });
  const killedIn: string[] = [];
  const deadline = Date.now() + 240_000;
  for (;;) {
    const { raw, status } = await handle.describe();
    if (status.name !== 'RUNNING' || Date.now() > deadline) break;
    const running = (raw.pendingActivities ?? []).find(
      (a) => STEPS.includes(a.activityType?.name ?? '') && String(a.state) === '2', // 2 = STARTED
    );
    const step = running?.activityType?.name;
    if (step && !killedIn.includes(step)) {
      await killWorker(worker);
      killedIn.push(step);
      worker = await newWorker();
    } else await new Promise((r) => setTimeout(r, 20));
  }
  const result = (await handle.result()) as RepairResult;
  expect((await handle.describe()).runId).toBe(handle.firstExecutionRunId);
  expect(result.report.problems).toEqual([]);
  // Most steps last long enough to be caught (the start, the takeover's wait for the cluster, the sync, the verify).
  expect(killedIn.length).toBeGreaterThanOrEqual(3);
  console.log(`worker killed in: ${killedIn.join(', ')}`);
  expect(await d.myId('m3')).not.toBe(oldId);
  for (const n of spec.nodes) expect((await d.clusterNodes(n.id)).some((l) => l.id === oldId)).toBe(false);
  await d.expectSpecRoles();
  await d.expectAcknowledgedKeys();
});
