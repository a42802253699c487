/**
 * Fault injection. Each test breaks one thing on purpose in the middle of a real run (worker processes, a Temporal
 * dev server keeping its state in SQLite, redis-server nodes, the S3-compatible store) and asserts what must hold
 * afterwards. The worker that is broken runs test/helpers/fault-worker.ts: the real worker plus a hook that holds
 * one activity and says so, so that the fault lands at exactly the step named. A table of faults, outcomes and
 * keys lost is printed at the end.
 */
import Redis from 'ioredis';
import { spawn } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RedisClusterClient, migrationWorkflowId } from '../../src/client';
import { parseInfo } from '../../src/redis/cluster-nodes';
import { withNode } from '../../src/redis/connection';
import { type ClusterSpec, adminAddress, masters } from '../../src/model';
import { STEPS } from '../../src/model';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { compareAllKeys } from '../helpers/dataset';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { type Stack, freePortBlock, seedTopology, startStack, stopRedisNodes, workflowBundle } from '../helpers/stack';
import { restoresOnTarget, writesAndKeys } from '../helpers/target-stats';
import { sleep, waitFor } from '../helpers/wait';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

/** The provisioning steps that run as activities (validate runs in the workflow; migration has its own tests). */
const PROVISION_ACTIVITIES = STEPS.filter((s) => !['validate', 'migrateData', 'verifyData'].includes(s));
const FAULT_WORKER = path.join(__dirname, '..', 'helpers', 'fault-worker.ts');

let stack: Stack;
let client: RedisClusterClient;
let bundlePath: string;
const workers: WorkerProcess[] = [];
const summary: { fault: string; outcome: string; keysLost: number | string }[] = [];

/** `promise`, or an error after `ms`: a stuck run fails its case with the workers' output instead of hanging. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs one fault case and adds its row to the summary, also when it fails. */
async function record(fault: string, run: () => Promise<{ outcome: string; keysLost?: number }>): Promise<void> {
  try {
    const { outcome, keysLost } = await run();
    summary.push({ fault, outcome, keysLost: keysLost ?? '-' });
  } catch (err) {
    summary.push({ fault, outcome: `FAILED: ${String(err).split('\n')[0]}`, keysLost: '?' });
    // What the workers said, to see why.
    for (const worker of workers) {
      const file = path.join(stack.stateDir, `worker-${worker.child.pid}.log`);
      writeFileSync(file, worker.output());
      process.stderr.write(`--- worker ${worker.child.pid} (all of it: ${file})\n${worker.output().slice(-3000)}\n`);
    }
    throw err;
  }
}

beforeAll(async () => {
  stack = await startStack('faults', { persistent: true });
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
  // Bundled once: every worker of the suite starts in seconds.
  bundlePath = path.join(stack.stateDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await workflowBundle()).code);
});

afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  await client?.close();
  await stopTestServers();
  await stack?.stop();
  const rows = summary.map((r) => `| ${r.fault} | ${r.outcome} | ${r.keysLost} |`);
  process.stdout.write(
    ['', 'Fault-injection summary', '| fault | outcome | keys lost |', '|---|---|---|', ...rows, ''].join('\n'),
  );
});

/** A worker process; with `hold` ("<activity>:<before|after>[:ms]") the fault worker. */
async function startWorker(hold?: string): Promise<WorkerProcess> {
  const env = { RCO_WORKFLOW_BUNDLE: bundlePath, ...(hold ? { RCO_FAULT_HOLD: hold } : {}) };
  const worker = hold
    ? startWorkerProcess(stack.temporal.address, env, { entry: FAULT_WORKER })
    : startWorkerProcess(stack.temporal.address, env);
  workers.push(worker);
  await worker.ready;
  return worker;
}

const holding = (worker: WorkerProcess, activity: string) =>
  waitFor(`the worker to hold ${activity}`, async () => worker.output().includes(`HOLDING ${activity}`) || undefined);

/** Highest attempt of each activity type in the run's history. */
async function attemptsByActivity(workflowId: string): Promise<Record<string, number>> {
  const history = await client.handle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  const attempts: Record<string, number> = {};
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(event.eventId), scheduled.activityType!.name!);
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const name = types.get(String(started.scheduledEventId))!;
      attempts[name] = Math.max(attempts[name] ?? 0, started.attempt ?? 1);
    }
  }
  return attempts;
}

/**
 * Stops a redis-server like a crash of its host would (SIGKILL). `restart` starts it again; by default as the
 * orchestrator started it: the same executable and config file, from the same folder, so that it reads its
 * config and nodes.conf again as after a reboot.
 */
async function crashNode(
  address: { host: string; port: number },
  restart?: () => Promise<unknown>,
): Promise<() => Promise<void>> {
  const server = parseInfo((await withNode(address, (c) => c.info('server'))) as string);
  const pid = Number(server.process_id);
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  process.kill(pid, 'SIGKILL');
  await waitFor('the node to go down', async () => {
    try {
      process.kill(pid, 0);
      return undefined;
    } catch {
      return true;
    }
  });
  return async () => {
    if (restart) await restart();
    else spawn(server.executable!, [server.config_file!], { cwd, detached: true, stdio: 'ignore' }).unref();
    await waitFor('the node to answer', async () => {
      try {
        return (await withNode(address, (c) => c.ping())) === 'PONG' || undefined;
      } catch {
        return undefined;
      }
    });
  };
}

/** A standalone source with `count` string keys, a tenth of them with a TTL; SAVEd so that it survives a restart. */
async function startSource(name: string, count: number): Promise<{ port: number; dir: string; redis: Redis }> {
  const port = await freePortBlock(1);
  const dir = path.join(stack.stateDir, name);
  await startTestRedis(port, dir, ['--cluster-enabled', 'no']);
  const redis = new Redis({ host: '127.0.0.1', port });
  for (let start = 0; start < count; start += 5000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(start + 5000, count); i++)
      if (i % 10 === 0) pipeline.set(`key:${i}`, `value-${i}`, 'PX', 3_600_000);
      else pipeline.set(`key:${i}`, `value-${i}`);
    await pipeline.exec();
  }
  await redis.save();
  return { port, dir, redis };
}

/** Keys of the source missing or different in the target (value and expiry compared). */
async function keysLost(source: Redis, spec: ClusterSpec): Promise<number> {
  const { differences } = await compareAllKeys([source], masters(spec).map(adminAddress));
  return differences.length;
}

describe.each(PROVISION_ACTIVITIES)('SIGKILL of the worker during %s', (activity) => {
  test('its work done, its result not yet reported: a new worker completes the same run exactly', () =>
    record(`worker SIGKILLed in ${activity}`, async () => {
      const spec = await seedTopology(stack, `kill-${activity.toLowerCase()}`);
      const faulty = await startWorker(`${activity}:after`);
      const handle = await client.provision(spec);
      await holding(faulty, activity);
      await killWorker(faulty);
      const healthy = await startWorker();
      try {
        const result = await client.result(spec.name);
        const description = await handle.describe();
        expect(description.runId).toBe(handle.firstExecutionRunId);
        expect(description.status.name).toBe('COMPLETED');
        expect(result.report.problems).toEqual([]);
        await expectRunbookCluster(spec);
        // The killed activity really ran again, on the new worker.
        expect((await attemptsByActivity(spec.name))[activity]).toBeGreaterThan(1);
        return { outcome: 'same run completed, exact cluster' };
      } finally {
        await killWorker(healthy);
        await stopRedisNodes(path.join(stack.stateDir, spec.name));
      }
    }));
});

test('Temporal dev server stopped for 3 s mid-migration (SQLite kept): the run completes, no key lost', () =>
  record('Temporal server stopped 3 s during migrateData', async () => {
    const spec = await seedTopology(stack, 'temporal-restart');
    const source = await startSource('source-temporal', 30_000);
    const worker = await startWorker();
    try {
      await client.provision({
        ...spec,
        migration: { source: { type: 'standalone', host: '127.0.0.1', port: source.port }, keysPerSecond: 6000 },
      });
      await waitFor('copying to start', async () => {
        const scanned = (await client.progress(spec.name)).migration?.shards[0]?.scanned ?? 0;
        return scanned > 5000 || undefined;
      });
      await stack.restartTemporal(3000);
      // A new connection: the old one may hold a broken channel.
      await client.close();
      client = await RedisClusterClient.connect({ address: stack.temporal.address });
      const result = await client.result(spec.name);
      expect((await client.handle(spec.name).describe()).status.name).toBe('COMPLETED');
      expect(result.migration!.unequal).toEqual([]);
      const lost = await keysLost(source.redis, spec);
      expect(lost).toBe(0);
      return { outcome: 'same run completed, every key equal', keysLost: lost };
    } finally {
      source.redis.disconnect();
      await killWorker(worker);
      await stopRedisNodes(path.join(stack.stateDir, spec.name));
    }
  }));

test('a target node crashes during replicateNodes and comes back: the step retries and completes', () =>
  record('a target replica SIGKILLed in replicateNodes, back after 6 s', async () => {
    const spec = await seedTopology(stack, 'node-down');
    // Hold replicateNodes for 2 s before its work: the node is down when the step starts.
    const worker = await startWorker('replicateNodes:before:2000');
    try {
      await client.provision(spec);
      await holding(worker, 'replicateNodes');
      const replica = spec.nodes.find((n) => n.role === 'replica')!;
      const restart = await crashNode(adminAddress(replica));
      await sleep(6000);
      await restart();
      const result = await client.result(spec.name);
      expect(result.report.problems).toEqual([]);
      await expectRunbookCluster(spec);
      const attempts = (await attemptsByActivity(spec.name)).replicateNodes!;
      expect(attempts).toBeGreaterThan(1);
      return { outcome: `step retried (${attempts} attempts), exact cluster` };
    } finally {
      await killWorker(worker);
      await stopRedisNodes(path.join(stack.stateDir, spec.name));
    }
  }));

test('the migration source crashes mid-copy and comes back: the copy goes on, no key lost, none copied twice', () =>
  record('the migration source SIGKILLed mid-copy, back after 5 s', async () => {
    const KEYS = 60_000;
    const BATCH = 500;
    const spec = await seedTopology(stack, 'source-down');
    const source = await startSource('source-down', KEYS);
    const worker = await startWorker();
    try {
      await client.provision(spec);
      await client.result(spec.name);
      const restoresBefore = await restoresOnTarget(spec);
      await client.migrate({
        ...spec,
        migration: {
          source: { type: 'standalone', host: '127.0.0.1', port: source.port },
          batchSize: BATCH,
          keysPerSecond: 10_000,
        },
      });
      const id = migrationWorkflowId(spec.name);
      await waitFor('a third of the keys', async () => {
        const scanned = (await client.progress(id)).migration?.shards[0]?.scanned ?? 0;
        return scanned > KEYS / 3 || undefined;
      });
      const restart = await crashNode({ host: '127.0.0.1', port: source.port }, () =>
        startTestRedis(source.port, source.dir, ['--cluster-enabled', 'no']),
      );
      await sleep(5000);
      await restart();
      const result = await within(120_000, client.result(id), 'the migration to finish');
      expect(result.migration!.unequal).toEqual([]);
      // The restart was seen (a restarted Redis voids SCAN cursors: its hash seed is new), the source scanned
      // again, and only keys not yet in the target written: the keys written twice are at most about one batch.
      expect(worker.output()).toContain('the source restarted since the last checkpoint');
      const copiedTwice = (await restoresOnTarget(spec)) - restoresBefore - KEYS;
      expect(copiedTwice).toBeLessThanOrEqual(BATCH * 1.5);
      const lost = await keysLost(source.redis, spec);
      expect(lost).toBe(0);
      return { outcome: `restart seen, scanned again, ${copiedTwice} keys written twice`, keysLost: lost };
    } finally {
      source.redis.disconnect();
      await killWorker(worker);
      await stopRedisNodes(path.join(stack.stateDir, spec.name));
    }
  }));

describe('one cluster, started twice at once, then run again holding data', () => {
  let spec: ClusterSpec;
  let worker: WorkerProcess;
  let firstRunId: string;
  beforeAll(async () => {
    spec = await seedTopology(stack, 'twice');
    worker = await startWorker();
  });
  afterAll(async () => {
    await killWorker(worker);
    await stopRedisNodes(path.join(stack.stateDir, spec.name));
  });

  test('two starts at once: exactly one run does the work, the other attaches to it', () =>
    record('two starts for one cluster at once', async () => {
      // Two clients, as two services would be.
      const other = await RedisClusterClient.connect({ address: stack.temporal.address });
      try {
        const [first, second] = await Promise.all([client.provision(spec), other.provision(spec)]);
        expect(second.firstExecutionRunId).toBe(first.firstExecutionRunId);
        firstRunId = first.firstExecutionRunId;
        await client.result(spec.name);
        expect(await client.list(`WorkflowId = "${first.workflowId}"`)).toHaveLength(1);
        return { outcome: 'one run; the second start attached to it' };
      } finally {
        await other.close();
      }
    }));

  test('the workflow again on the finished cluster holding 5,000 keys: nothing written, no key changed', () =>
    record('re-run on a finished cluster holding 5,000 keys', async () => {
      const data = await startSource('rerun-data', 5000);
      try {
        await client.migrate({
          ...spec,
          migration: { source: { type: 'standalone', host: '127.0.0.1', port: data.port } },
        });
        await client.result(migrationWorkflowId(spec.name));
        const before = await writesAndKeys(spec);
        expect(before.reduce((sum, m) => sum + m.keys, 0)).toBe(5000);
        const rerun = await client.provision(spec);
        expect(rerun.firstExecutionRunId).not.toBe(firstRunId);
        const result = await client.result(spec.name);
        expect(result.report.problems).toEqual([]);
        // The masters' dirty counters did not move: not one write, not even of an equal value.
        expect(await writesAndKeys(spec)).toEqual(before);
        const lost = await keysLost(data.redis, spec);
        expect(lost).toBe(0);
        return { outcome: 'nothing written (dirty counters unchanged)', keysLost: lost };
      } finally {
        data.redis.disconnect();
      }
    }));
});
