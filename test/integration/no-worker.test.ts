/**
 * A run with no worker to take it (its task waiting past the budget, 3 s here): `rco status` and the client say so from the Temporal server alone ("no worker is
 * polling task queue ..."), where the progress query would go unanswered. Then the demo's supervisor starts a worker,
 * the run completes, and a worker SIGKILLed under it is started again, its log saying why it died.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisClusterClient } from '../../src/client';
import { PROJECT_ROOT } from '../../src/host/tools';
import { stopPid } from '../../src/host/processes';
import { LOCAL_S3_ENV } from '../../src/local/seed';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { type Stack, seedTopology, startStack } from '../helpers/stack';
import { sleep, waitFor } from '../helpers/wait';

const execFileAsync = promisify(execFile);

let stack: Stack;
let client: RedisClusterClient;
let supervisorPid: number | undefined;

beforeAll(async () => {
  stack = await startStack('no-worker');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
});

afterAll(async () => {
  // The supervisor's process group: it and its worker.
  if (supervisorPid) await stopPid(-supervisorPid);
  await client?.close();
  await stack?.stop();
});

test('no worker: status names the task queue nobody polls; the supervisor starts one, and restarts it after a kill', async () => {
  const spec = await seedTopology(stack, 'nobody');
  const started = Date.now();
  await client.provision(spec);
  // Within the budget: not yet a problem. (30 s by default; 3 s here.)
  expect(await client.waitingForWorker(spec.name, 3000)).toBeUndefined();
  await sleep(3500 - (Date.now() - started));
  const waiting = await client.waitingForWorker(spec.name, 3000);
  expect(waiting).toMatchObject({ taskQueue: 'redis-cluster', task: 'the workflow task', pollers: 0 });
  expect(waiting!.message).toMatch(/^no worker is polling task queue redis-cluster: the workflow task has waited \ds/);
  const env = { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address };
  const cli = [require.resolve('tsx/cli'), path.join(PROJECT_ROOT, 'src', 'cli', 'index.ts')];
  const { stdout } = await execFileAsync(process.execPath, [...cli, 'status', spec.name, '--worker-wait', '3'], {
    env,
    timeout: 60_000,
  });
  expect(stdout).toContain('waiting for a worker: no worker is polling task queue redis-cluster');

  const logFile = path.join(stack.stateDir, 'worker.log');
  const supervisor = spawn(
    process.execPath,
    [require.resolve('tsx/cli'), path.join(PROJECT_ROOT, 'src', 'local', 'supervise.ts'), logFile],
    { cwd: PROJECT_ROOT, detached: true, stdio: 'ignore', env: { ...env, ...LOCAL_S3_ENV } },
  );
  supervisorPid = supervisor.pid;
  const result = await client.result(spec.name);
  expect(result.report.problems).toEqual([]);
  await expectRunbookCluster(spec);
  expect(await client.waitingForWorker(spec.name)).toBeUndefined();

  const log = () => readFileSync(logFile, 'utf8');
  const firstPid = Number(/started worker pid (\d+)/.exec(log())![1]);
  process.kill(firstPid, 'SIGKILL');
  const restarted = await waitFor(
    'the worker started again',
    async () => /started worker pid (\d+)\n(?:.|\n)*started worker pid (\d+)/.exec(log())?.[2],
    30_000,
  );
  expect(Number(restarted)).not.toBe(firstPid);
  expect(log()).toContain(
    `worker pid ${firstPid} exited (signal SIGKILL (killed, or the kernel OOM killer)); restarting it`,
  );
  // The new worker serves runs: a re-provision completes.
  await client.provision(spec);
  expect((await client.result(spec.name)).report.problems).toEqual([]);
}, 240_000);
