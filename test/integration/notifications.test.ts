/**
 * Live migration without PSYNC (migration.liveMethod "notifications"), on a source that allows no replication and no
 * CONFIG (renamed away, as managed services do), under a write load of every type with keys that expire while it
 * runs. The subscription is killed part way (CLIENT KILL TYPE pubsub): the gap is found and a full pass writes only
 * what changed. The cutover holds the writes, drains the notifications, and every key is compared both ways. A
 * 3-master cluster source is followed the same way, one subscription per master, by two workers: each shard's chunks
 * go to the worker that holds its subscription.
 */
import { Cluster, type Redis } from 'ioredis';
import path from 'node:path';
import { migrationWorkflowId } from '../../src/client';
import { type ClusterSpec, ErrorType, SOURCE_ACL_RULES, adminAddress, masters } from '../../src/model';
import { compareAllKeys, fillEveryType, keysOnlyInTarget } from '../helpers/dataset';
import { rootApplicationFailure } from '../helpers/failures';
import { type RunningStack, provisionedTarget, startRunningStack } from '../helpers/running-stack';
import { startPlainSource, workflowBundle } from '../helpers/stack';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';
import { writeFileSync } from 'node:fs';
import { sleep, waitFor } from '../helpers/wait';
import { startPlainCluster } from '../helpers/plain-cluster';
import { everyTypeMix, startWriteLoad } from '../helpers/write-load';

const MANAGED = [
  ...['--rename-command', 'PSYNC', ''],
  ...['--rename-command', 'SYNC', ''],
  ...['--rename-command', 'CONFIG', ''],
];

let running: RunningStack;
const clients: Redis[] = [];
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  running = await startRunningStack('notifications');
});

afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  for (const c of clients) c.disconnect();
  await running?.stop();
});

const provisioned = (name: string) => provisionedTarget(running, name);

const syncOf = async (spec: ClusterSpec) =>
  (await running.client.progress(migrationWorkflowId(spec.name))).migration?.sync?.[0];

/** Keys that live half a second, written for as long as `running()` says: their expiries are notified too. */
async function shortLived(source: Redis, running: () => boolean): Promise<number> {
  let n = 0;
  while (running() && n < 2000) {
    await source.set(`short:${n % 100}`, `v${n}`, 'PX', 500);
    n++;
    await sleep(20);
  }
  return n;
}

test('a source without PSYNC, SYNC and CONFIG: followed by notifications through a lost subscription, cut over, every key both ways', async () => {
  const source = await startPlainSource(running.stack, 'managed', [...MANAGED, '--notify-keyspace-events', 'KEA']);
  clients.push(source);
  await fillEveryType(source, 'nf:');
  const spec = await provisioned('notifications');
  const load = startWriteLoad(source.duplicate(), {
    opsPerSecond: 1000,
    maxSeconds: 90,
    mix: everyTypeMix('load:', 2000, { db1: false }),
  });
  let loading = true;
  const expiring = shortLived(source.duplicate(), () => loading);
  await running.client.migrate({
    ...spec,
    migration: {
      mode: 'live',
      liveMethod: 'notifications',
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
    },
  });
  const first = await waitFor(
    'streaming',
    async () => ((await syncOf(spec))?.phase === 'streaming' ? syncOf(spec) : undefined),
    60_000,
  );
  console.log(`first pass: ${JSON.stringify(first)}`);
  expect(first!.fullResyncs).toBe(1);
  await sleep(2000);

  // The subscription killed: what was written until a new one began was notified to no one.
  expect(Number(await source.call('CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBe(1);
  const gap = await waitFor(
    'a full pass after the gap',
    async () => {
      const entry = await syncOf(spec);
      return entry && entry.fullResyncs === 2 && entry.phase === 'streaming' ? entry : undefined;
    },
    60_000,
  );
  console.log(`after the gap: ${JSON.stringify(gap)}`);
  expect(gap.lastFullResync).toContain('the source closed the subscription');
  // The gap pass compared every key and wrote only what changed: far fewer than it read.
  expect(gap.snapshotWritten).toBeLessThan(gap.snapshotKeys! / 2);
  await sleep(2000);
  const stats = await load.stop();
  loading = false;
  const short = await expiring;
  const report = await running.client.cutover(spec.name, { pauseBudgetMs: 3000, verify: 'all' });
  console.log(`load ${stats.ops} ops, ${short} short-lived keys; cutover ${JSON.stringify(report).slice(0, 500)}`);
  expect(report.done).toBe(true);
  expect(report.differences).toEqual([]);
  expect(report.paused).toEqual([`127.0.0.1:${source.options.port}`]);
  expect(report.guarantee).toContain('keyspace notification');

  const targets = masters(spec).map(adminAddress);
  const compared = await compareAllKeys([source], targets);
  expect(compared.differences).toEqual([]);
  expect(compared.compared).toBeGreaterThan(5000);
  expect(await keysOnlyInTarget([source], targets)).toEqual([]);
});

test('notifications off on the source: refused at once, naming the setting', async () => {
  const source = await startPlainSource(running.stack, 'quiet', ['--notify-keyspace-events', 'Kg']);
  clients.push(source);
  const spec = await provisioned('quiet');
  const handle = await running.client.migrate({
    ...spec,
    migration: {
      mode: 'live',
      liveMethod: 'notifications',
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
    },
  });
  const failure = await handle.result().then(
    () => {
      throw new Error('the migration succeeded');
    },
    (err: unknown) => rootApplicationFailure(err),
  );
  expect(failure.type).toBe(ErrorType.SourceCannotReplicate);
  expect(failure.message).toContain('notify-keyspace-events lacks "E$lshzxet"');
  expect(failure.message).toContain('KEA');
});

test('a 3-master cluster source by notifications, two workers: one subscription per master, each chunk in the worker that holds it; cut over, every key both ways', async () => {
  // A second worker, a process of its own (subscriptions live in a worker's memory), beside the suite's.
  const bundlePath = path.join(running.stack.stateDir, 'workflow-bundle.js');
  writeFileSync(bundlePath, (await workflowBundle()).code);
  const second = startWorkerProcess(running.stack.temporal.address, {
    RCO_WORKFLOW_BUNDLE: bundlePath,
    RCO_WORKER_NAME: 'second',
  });
  workers.push(second);
  await second.ready;
  const { ports, nodes } = await startPlainCluster(path.join(running.stack.stateDir, 'notify-cluster'));
  clients.push(...nodes);
  for (const node of nodes) await node.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
  const writer = new Cluster([{ host: '127.0.0.1', port: ports[0]! }]);
  for (let i = 0; i < 3000; i++) await writer.set(`c:${i}`, `v${i}`);
  const spec = await provisioned('notify-cluster');
  const load = startWriteLoad(writer, {
    opsPerSecond: 500,
    maxSeconds: 60,
    mix: everyTypeMix('cl:', 1000, { db1: false }),
  });
  await running.client.migrate({
    ...spec,
    migration: {
      mode: 'live',
      liveMethod: 'notifications',
      source: { type: 'cluster', nodes: [{ host: '127.0.0.1', port: ports[0]! }] },
    },
  });
  await waitFor(
    'every master streaming',
    async () => {
      const sync = (await running.client.progress(migrationWorkflowId(spec.name))).migration?.sync;
      return sync?.length === 3 && sync.every((s) => s.phase === 'streaming') ? true : undefined;
    },
    60_000,
  );
  // A second chunk of every shard: it goes to the worker that holds the shard's subscription, so no new full pass
  // (two workers share the shard queue: a chunk that landed on the other one would make one).
  const sync = await waitFor(
    'a second chunk of every master',
    async () => {
      const now = (await running.client.progress(migrationWorkflowId(spec.name))).migration?.sync;
      return now?.every((s) => s.fullResyncs + s.partialResyncs >= 2) ? now : undefined;
    },
    60_000,
  );
  console.log(
    `cluster by notifications, two workers: ${JSON.stringify(sync.map((s) => [s.shard, s.worker, s.fullResyncs, s.partialResyncs]))}`,
  );
  expect(sync.map((s) => s.fullResyncs)).toEqual([1, 1, 1]);
  const stats = await load.stop();
  writer.disconnect();
  const report = await running.client.cutover(spec.name, { pauseBudgetMs: 3000, verify: 'all' });
  console.log(`cluster by notifications: load ${stats.ops} ops; cutover ${JSON.stringify(report).slice(0, 300)}`);
  expect(report.done).toBe(true);
  expect(report.paused).toHaveLength(3);
  const targets = masters(spec).map(adminAddress);
  const compared = await compareAllKeys(nodes, targets);
  expect(compared.differences).toEqual([]);
  expect(compared.compared).toBeGreaterThan(3000);
  expect(await keysOnlyInTarget(nodes, targets)).toEqual([]);
  await killWorker(workers.pop()!);
});

test('a source that lets no one hold its writes: the cutover refuses, naming writesStopped; told the writes stopped, it cuts over and every key is compared', async () => {
  const source = await startPlainSource(running.stack, 'no-pause', ['--notify-keyspace-events', 'KEA']);
  clients.push(source);
  await fillEveryType(source, 'np:');
  // The notifications rules without CLIENT PAUSE, as a managed service that keeps that command to itself.
  const rules = SOURCE_ACL_RULES.notifications.filter((rule) => !rule.startsWith('+client|'));
  await source.call('ACL', 'SETUSER', 'nopause', 'reset', 'on', '>np-pw', ...rules);
  process.env.RCO_TEST_NOPAUSE_PASSWORD = 'np-pw';
  const spec = await provisioned('no-pause');
  await running.client.migrate({
    ...spec,
    migration: {
      mode: 'live',
      liveMethod: 'notifications',
      source: {
        type: 'standalone',
        host: '127.0.0.1',
        port: source.options.port!,
        auth: { username: 'nopause', passwordEnv: 'RCO_TEST_NOPAUSE_PASSWORD' },
      },
    },
  });
  await waitFor('streaming', async () => ((await syncOf(spec))?.phase === 'streaming' ? true : undefined), 60_000);
  for (let i = 0; i < 100; i++) await source.set(`np:after:${i}`, `v${i}`);

  const refused = await running.client.cutover(spec.name, { pauseBudgetMs: 1000, verify: 'all' });
  expect(refused.done).toBe(false);
  expect(refused.reason).toContain('"writesStopped": true');
  expect(refused.reason).toMatch(/NOPERM|no permissions/i);

  // The writes stop (here: none comes any more); the last ones still reach the cluster by the drain.
  for (let i = 0; i < 100; i++) await source.del(`np:after:${i % 10}`);
  const report = await running.client.cutover(spec.name, { pauseBudgetMs: 1000, verify: 'all', writesStopped: true });
  expect(report.done).toBe(true);
  expect(report.paused).toEqual([]);
  expect(report.guarantee).toContain('with the writes stopped by the user');
  expect(report.differences).toEqual([]);
  const targets = masters(spec).map(adminAddress);
  const compared = await compareAllKeys([source], targets);
  expect(compared.differences).toEqual([]);
  expect(compared.compared).toBe(await source.dbsize());
  expect(await keysOnlyInTarget([source], targets)).toEqual([]);
});
