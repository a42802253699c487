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
import { parseInfo } from '../../src/redis/cluster-nodes';
import { compareAllKeys, fillEveryType, keysOnlyInTarget } from '../helpers/dataset';
import { rootApplicationFailure } from '../helpers/failures';
import { startPlainCluster } from '../helpers/plain-cluster';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { type Stack, freePortBlock, seedTopology, startStack, workflowBundle } from '../helpers/stack';
import { portOpen } from '../../src/host/processes';
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
  for (const node of targetNodes.values()) node.disconnect();
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
        // Database 2 is empty when the sync starts: written to later, it is synced and verified all the same.
        databases: { '0': { prefix: '' }, '1': { prefix: 'db1:' }, '2': { prefix: 'db2:' } },
      },
    },
  });
  await streaming(spec);
  const db2 = source.redis.duplicate({ db: 2 });
  for (let i = 0; i < 50; i++) await db2.set(`late:${i}`, `v${i}`);
  // Controls name the cluster and reach its running migration (not its finished provisioning run).
  expect(await client.throttle(spec.name, 50_000)).toBe(50_000);
  expect((await progressOf(spec))?.keysPerSecond).toBe(50_000);
  await sleep(5000);
  const stats = await load.stop();
  const report = await client.cutover(spec.name, { pauseBudgetMs: 1000, verify: 'all' });
  console.log(`load ${stats.ops} ops (${stats.errors} errors); cutover ${JSON.stringify(report).slice(0, 400)}`);
  expect(report.done).toBe(true);
  expect(report.differences).toEqual([]);
  expect(report.writePauseMs).toBeLessThan(1000);
  const result = await client.migrationResult(spec.name);
  expect(result.migration.cutover?.done).toBe(true);

  const db0 = await compareAllKeys([source.redis], targets(spec), { replicated: true });
  expect(db0.differences).toEqual([]);
  const db1 = source.redis.duplicate({ db: 1 });
  const inDb1 = await compareAllKeys([db1], targets(spec), { prefix: 'db1:', replicated: true });
  expect(inDb1.differences).toEqual([]);
  expect(inDb1.compared).toBeGreaterThan(0);
  expect(await compareAllKeys([db2], targets(spec), { prefix: 'db2:', replicated: true })).toEqual({
    compared: 50,
    differences: [],
  });
  db2.disconnect();
  const extra = (await keysOnlyInTarget([source.redis], targets(spec))).filter((k) => !/^db[12]:/.test(k));
  expect(extra).toEqual([]);
  db1.disconnect();
  source.redis.disconnect();
});

/** The source's own replication counters: full syncs and partial resyncs it served. */
async function syncStats(redis: Redis): Promise<{ full: number; partialOk: number }> {
  const stats = parseInfo((await redis.info('stats')) as string);
  return { full: Number(stats.sync_full), partialOk: Number(stats.sync_partial_ok) };
}

/** Keys in the target masters: every call reads all of them at once, on connections kept for the test. */
const targetNodes = new Map<string, Redis>();
async function targetKeys(spec: ClusterSpec): Promise<number> {
  const sizes = await Promise.all(
    targets(spec).map((address) => {
      const id = `${address.host}:${address.port}`;
      let node = targetNodes.get(id);
      if (!node) targetNodes.set(id, (node = new Redis(address)));
      return node.dbsize();
    }),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

test('worker SIGKILLed in the snapshot, the source restarted: a new snapshot each time, saying why, then every key equal', async () => {
  const KEYS = 100_000;
  // A backlog that holds the writes of the ~10 s until Temporal notices a dead worker (README: sizing the backlog).
  const args = ['--cluster-enabled', 'no', '--appendonly', 'yes', '--repl-backlog-size', '64mb'];
  const source = await startSource('live-faults', ['--repl-backlog-size', '64mb']);
  await fillEveryType(source.redis);
  for (let start = 0; start < KEYS; start += 10_000) {
    const pipeline = source.redis.pipeline();
    for (let i = start; i < start + 10_000; i++) pipeline.set(`bulk:${i}`, `value-${i}-${'x'.repeat(i % 200)}`);
    await pipeline.exec();
  }
  const spec = await provisioned('live-faults');
  const loadClient = source.redis.duplicate();
  const load = startWriteLoad(loadClient, { opsPerSecond: 3000, maxSeconds: 240, mix: everyTypeMix('load:') });
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

  // 1. SIGKILL while the snapshot is being loaded: the next attempt takes a new snapshot, saying why. Early in it (a
  // tenth), so that a busy machine cannot finish loading between the look and the kill.
  await waitFor(
    'the snapshot partly loaded',
    async () => ((await targetKeys(spec)) > KEYS / 10 ? true : undefined),
    120_000,
  );
  await killWorker(workers.pop()!);
  await startWorker();
  await streaming(spec);
  let sync = (await progressOf(spec))!.sync![0]!;
  // The source served two snapshots; the killed attempt reported nothing, the retry says why it took another.
  expect((await syncStats(source.redis)).full).toBe(2);
  expect(sync.lastFullResync).toContain('was not loaded completely');
  const snapshots = sync.fullResyncs;

  // 2. The source restarts (its data kept in the AOF): a new replication id, so a new snapshot.
  // The load stops across the restart (a client's writes to a server going away are lost, not refused), then goes on.
  const before3 = await load.stop();
  const admin = new Redis({ host: '127.0.0.1', port: source.port, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await admin.call('SHUTDOWN').catch(() => undefined); // it closes the connection it came on
  admin.disconnect();
  await waitFor('the source to stop', async () => ((await portOpen(source.port)) ? undefined : true));
  await startTestRedis(source.port, source.dir, args);
  const load2 = startWriteLoad(loadClient, {
    opsPerSecond: 3000,
    maxSeconds: 240,
    mix: everyTypeMix('load:'),
    seed: 7,
  });
  await waitFor(
    'a snapshot after the restart',
    async () => ((await progressOf(spec))!.sync![0]!.fullResyncs > snapshots ? true : undefined),
    120_000,
  );
  sync = (await progressOf(spec))!.sync![0]!;
  console.log(`after the restart: ${sync.lastFullResync}`);
  expect(sync.lastFullResync).toMatch(/new replication id|no longer in the source's backlog/);
  await sleep(3000);

  const stats = await load2.stop();
  await streaming(spec);
  const report = await client.cutover(spec.name, { pauseBudgetMs: 1000, verify: 'all' });
  console.log(
    `load ${before3.ops + stats.ops} ops; cutover: paused ${report.writePauseMs} ms, ${report.keysVerified} keys verified`,
  );
  expect(report.done).toBe(true);
  expect(report.differences).toEqual([]);
  expect(report.writePauseMs).toBeLessThan(1000);

  const redis = new Redis({ host: '127.0.0.1', port: source.port });
  const db0 = await compareAllKeys([redis], targets(spec), { replicated: true });
  expect(db0.differences).toEqual([]);
  expect(db0.compared).toBeGreaterThan(KEYS);
  const db1 = redis.duplicate({ db: 1 });
  expect((await compareAllKeys([db1], targets(spec), { prefix: 'db1:', replicated: true })).differences).toEqual([]);
  expect((await keysOnlyInTarget([redis], targets(spec))).filter((k) => !k.startsWith('db1:'))).toEqual([]);
  for (const c of [db1, redis, loadClient, source.redis]) c.disconnect();
}, 400_000);

test('a 3-master source cluster under load, two workers of at most 2 shards: both run shards, one is SIGKILLed, the other goes on by partial resync; cut over, every key equal', async () => {
  // Two workers that take at most 2 shards each (RCO_MAX_SHARDS, as rco worker --max-shards 2), in place of the suite's.
  await Promise.all(workers.splice(0).map(killWorker));
  const start = async (name: string) => {
    const worker = startWorkerProcess(stack.temporal.address, {
      RCO_WORKFLOW_BUNDLE: bundlePath,
      RCO_MAX_SHARDS: '2',
      RCO_WORKER_NAME: name,
    });
    workers.push(worker);
    await worker.ready;
    return worker;
  };
  const [a, b] = [await start('worker-a'), await start('worker-b')];
  expect(a.output()).toMatch(/worker polling .*redis-cluster-shards \(at most 2 shards at once\).* as worker-a/);

  // A backlog that holds the writes of the ~10 s until Temporal notices the dead worker (README: sizing the backlog).
  const { ports, nodes } = await startPlainCluster(path.join(stack.stateDir, 'src-cluster'), 'redis-server', [
    '--repl-backlog-size',
    '64mb',
  ]);
  const cluster = new Redis.Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
  await fillEveryType(cluster);
  const spec = await provisioned('live-from-cluster');
  const load = startWriteLoad(cluster, {
    opsPerSecond: 2000,
    maxSeconds: 120,
    mix: everyTypeMix('load:', 2000, { db1: false }),
  });
  await client.migrate({
    ...spec,
    migration: { mode: 'live', source: { type: 'cluster', nodes: [{ host: '127.0.0.1', port: ports[0]! }] } },
  });
  await streaming(spec);
  const first = (await progressOf(spec))!.sync!;
  expect(first.map((s) => s.shard).sort()).toEqual(ports.map((p) => `127.0.0.1:${p}`).sort());
  // Three shards, two slots a worker: each worker runs at least one.
  expect(new Set(first.map((s) => s.worker))).toEqual(new Set(['worker-a', 'worker-b']));
  const onA = first.filter((s) => s.worker === 'worker-a').map((s) => s.shard);

  // A crash mid-stream: worker-a's shards go on in worker-b, from their offsets (no new snapshot). Three shards on two
  // slots take turns, a chunk each.
  await killWorker(a);
  await waitFor(
    "worker-a's shards streaming again in worker-b",
    async () => {
      const sync = (await progressOf(spec))!.sync!;
      const moved = onA.every((shard) => {
        const now = sync.find((s) => s.shard === shard)!;
        const before = first.find((s) => s.shard === shard)!;
        return now.worker === 'worker-b' && now.partialResyncs > before.partialResyncs;
      });
      return moved ? sync : undefined;
    },
    90_000,
  );
  await sleep(2000);
  const stats = await load.stop();
  // A shard waiting for its turn joins the cutover within a chunk: a budget of 20 s, not 1.
  const report = await client.cutover(spec.name, { pauseBudgetMs: 20_000, verify: 'all' });
  const last = (await client.migrationResult(spec.name)).migration;
  console.log(
    `two workers: load ${stats.ops} ops; on worker-a before the kill: ${onA.join(', ')}; cutover paused ${report.writePauseMs} ms over ${report.offsets.length} masters; resyncs ${JSON.stringify(last.sync?.map((s) => [s.shard, s.worker, s.fullResyncs, s.partialResyncs]))}`,
  );
  expect(report.done).toBe(true);
  expect(report.offsets).toHaveLength(3);
  expect(report.differences).toEqual([]);
  expect(last.sync!.map((s) => s.fullResyncs)).toEqual([1, 1, 1]);
  // The sources agree: one full sync each, over both workers and the kill; every later chunk a partial resync.
  for (const node of nodes) expect(await syncStats(node)).toMatchObject({ full: 1 });
  const { compared, differences } = await compareAllKeys(nodes, targets(spec), { replicated: true });
  expect(differences).toEqual([]);
  expect(compared).toBe((await Promise.all(nodes.map((n) => n.dbsize()))).reduce((a, b) => a + b, 0));
  expect(await keysOnlyInTarget(nodes, targets(spec))).toEqual([]);
  cluster.disconnect();
  nodes.forEach((n) => n.disconnect());
  // The rest of the suite runs on one worker of the default size again.
  await Promise.all(workers.splice(0).map(killWorker));
  await startWorker();
  expect(b.child.signalCode).toBe('SIGKILL');
}, 300_000);

test('FLUSHALL on the source stops the sync with its error, and the cluster keeps what it had', async () => {
  const source = await startSource('live-flush');
  for (let i = 0; i < 1000; i++) await source.redis.set(`key:${i}`, `v${i}`);
  const spec = await provisioned('live-flush');
  await client.migrate({
    ...spec,
    migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: source.port } },
  });
  await streaming(spec);
  const held = () => targetKeys(spec);
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
