/**
 * Live migration on real servers: the worker follows each source master as a replica (PSYNC), loads its snapshot and
 * applies its stream while a bounded write load (every type, expiries, DEL, RENAME, MULTI/EXEC, a script, binary
 * names, db 1 mapped by prefix) runs; it survives SIGKILLs of the worker (resuming by partial resync) and a restart
 * of the source (a full resync); the cutover holds writes briefly and verifies; then every key is compared.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import Redis from 'ioredis';
import path from 'node:path';
import { RedisClusterClient, migrationWorkflowId } from '../../src/client';
import { type ClusterSpec, ErrorType, adminAddress, masters } from '../../src/model';
import { compareAllKeys, fillEveryType, keysOnlyInTarget } from '../helpers/dataset';
import { rootApplicationFailure } from '../helpers/failures';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { type Stack, freePortBlock, seedTopology, startStack, workflowBundle } from '../helpers/stack';
import { sleep, waitFor } from '../helpers/wait';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';
import { everyTypeMix, startWriteLoad } from '../helpers/write-load';
import { writeFileSync } from 'node:fs';

Runtime.install({ logger: new DefaultLogger('WARN') });

let stack: Stack;
let client: RedisClusterClient;
let bundlePath: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  stack = await startStack('live');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
  bundlePath = path.join(stack.stateDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await workflowBundle()).code);
  await startWorker();
});

afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  await client?.close();
  await stopTestServers();
  await stack?.stop();
});

async function startWorker(): Promise<WorkerProcess> {
  const worker = startWorkerProcess(stack.temporal.address, { RCO_WORKFLOW_BUNDLE: bundlePath });
  workers.push(worker);
  await worker.ready;
  return worker;
}

/** A standalone source with AOF (so that it restarts with its data), filled with every type. */
async function startSource(name: string, extra: string[] = []): Promise<{ redis: Redis; port: number; dir: string }> {
  const port = await freePortBlock(1);
  const dir = path.join(stack.stateDir, name);
  await startTestRedis(port, dir, ['--cluster-enabled', 'no', '--appendonly', 'yes', ...extra]);
  return { redis: new Redis({ host: '127.0.0.1', port }), port, dir };
}

async function provisioned(name: string): Promise<ClusterSpec> {
  const spec = await seedTopology(stack, name);
  await client.provision(spec);
  await client.result(spec.name);
  return spec;
}

const targets = (spec: ClusterSpec) => masters(spec).map(adminAddress);

async function progressOf(spec: ClusterSpec) {
  return (await client.progress(migrationWorkflowId(spec.name))).migration;
}

async function streaming(spec: ClusterSpec) {
  try {
    return await waitFor(
      'every source streaming',
      async () => ((await progressOf(spec))?.sync?.every((s) => s.phase === 'streaming') ? true : undefined),
      120_000,
    );
  } catch (err) {
    console.log(JSON.stringify(await client.progress(migrationWorkflowId(spec.name))).slice(0, 3000));
    for (const w of workers) console.log(w.output().slice(-6000));
    throw err;
  }
}

test('a live sync carries writes made during and after the snapshot; cutover holds writes briefly; every key equal', async () => {
  const source = await startSource('live-basic');
  await fillEveryType(source.redis);
  const spec = await provisioned('live-basic');
  const load = startWriteLoad(source.redis.duplicate(), {
    opsPerSecond: 2000,
    maxSeconds: 120,
    mix: everyTypeMix('load:'),
  });
  await client.migrate({
    ...spec,
    migration: {
      mode: 'live',
      source: {
        type: 'standalone',
        host: '127.0.0.1',
        port: source.port,
        databases: { '0': { prefix: '' }, '1': { prefix: 'db1:' } },
      },
    },
  });
  await streaming(spec);
  await sleep(5000);
  const stats = await load.stop();
  const report = await client.cutover(spec.name, { pauseBudgetMs: 1000, verify: 'all' });
  console.log(`load ${stats.ops} ops (${stats.errors} errors); cutover ${JSON.stringify(report).slice(0, 400)}`);
  expect(report.done).toBe(true);
  expect(report.differences).toEqual([]);
  expect(report.writePauseMs).toBeLessThan(1000);
  const result = await client.migrationResult(spec.name);
  expect(result.migration.cutover?.done).toBe(true);

  const db0 = await compareAllKeys([source.redis], targets(spec));
  expect(db0.differences).toEqual([]);
  const db1 = source.redis.duplicate({ db: 1 });
  const inDb1 = await compareAllKeys([db1], targets(spec), { prefix: 'db1:' });
  expect(inDb1.differences).toEqual([]);
  expect(inDb1.compared).toBeGreaterThan(0);
  const extra = (await keysOnlyInTarget([source.redis], targets(spec))).filter((k) => !k.startsWith('db1:'));
  expect(extra).toEqual([]);
  db1.disconnect();
  source.redis.disconnect();
});

test('FLUSHALL on the source stops the sync with its error, and the cluster keeps what it had', async () => {
  const source = await startSource('live-flush');
  for (let i = 0; i < 1000; i++) await source.redis.set(`key:${i}`, `v${i}`);
  const spec = await provisioned('live-flush');
  await client.migrate({
    ...spec,
    migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: source.port } },
  });
  await streaming(spec);
  const held = async () => {
    let total = 0;
    for (const address of targets(spec)) {
      const node = new Redis(address);
      total += await node.dbsize();
      node.disconnect();
    }
    return total;
  };
  const before = await held();
  await source.redis.flushall();
  const failure = await client.migrationResult(spec.name).then(
    () => {
      throw new Error('the sync went on after FLUSHALL');
    },
    (err: unknown) => rootApplicationFailure(err),
  );
  expect(failure.type).toBe(ErrorType.SyncStopped);
  expect(failure.message).toMatch(
    /FLUSHALL at replication offset \d+: FLUSHALL would empty the cluster; it is never applied/,
  );
  expect(await held()).toBe(before);
  source.redis.disconnect();
});
