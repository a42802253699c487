/**
 * Live migration from the sources people run, on real servers: a source that disables PSYNC and SYNC (as managed
 * services do), a replica given as the source, a user without the replication permissions (each refused in one
 * attempt, naming the way out); a TLS-only source that checks client certificates; a source that fails over by hand
 * during the sync (the cutover holds the new master); and a Sentinel source failed over by `SENTINEL FAILOVER` during
 * the stream (the sync follows the new master by a partial resync). Every run that copies ends with a key-by-key
 * comparison both ways.
 */
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { migrationWorkflowId } from '../../src/client';
import { type ClusterSpec, type MigrationSpecInput, ErrorType, adminAddress, masters } from '../../src/model';
import { parseInfo } from '../../src/redis/cluster-nodes';
import { makeCertificates } from '../helpers/certs';
import { compareAllKeys, fillEveryType, keysOnlyInTarget } from '../helpers/dataset';
import { rootApplicationFailure } from '../helpers/failures';
import { type RunningStack, provisionedTarget, startRunningStack } from '../helpers/running-stack';
import { startTestRedis, startTestSentinel } from '../helpers/servers';
import { freePortBlock, startPlainSource } from '../helpers/stack';
import { sleep, waitFor } from '../helpers/wait';
import { everyTypeMix, startWriteLoad } from '../helpers/write-load';

let running: RunningStack;
/** A provisioned cluster the refusal tests point at: nothing is written into it. */
let refusals: ClusterSpec;
const clients: Redis[] = [];

beforeAll(async () => {
  running = await startRunningStack('sources');
  refusals = await provisioned('refusals');
});

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await running?.stop();
});

const provisioned = (name: string) => provisionedTarget(running, name);

const kept = (redis: Redis) => (clients.push(redis), redis);
const targets = (spec: ClusterSpec) => masters(spec).map(adminAddress);

/** Activity attempts of a run, by activity type, read from its history. */
async function attempts(handle: WorkflowHandle, activityType: string): Promise<number[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, string>();
  const found: number[] = [];
  for (const event of events) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(event.eventId), s.activityType?.name ?? '');
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.get(String(started.scheduledEventId)) === activityType) found.push(started.attempt ?? 0);
  }
  return found;
}

/** Starts a live migration into `spec` and expects it to fail; the failure, its time and the activity attempts. */
async function refusedRun(spec: ClusterSpec, migration: MigrationSpecInput, activityType: string) {
  const started = Date.now();
  const handle = await running.client.migrate({ ...spec, migration });
  const failure = await handle.result().then(
    () => {
      throw new Error('the migration succeeded');
    },
    (err: unknown) => rootApplicationFailure(err),
  );
  const seconds = (Date.now() - started) / 1000;
  console.log(`refused in ${seconds.toFixed(2)} s: ${failure.type}: ${failure.message}`);
  expect(failure.nonRetryable).toBe(true);
  expect(await attempts(handle, activityType)).toEqual([1]);
  return { failure, seconds };
}

test('a source with PSYNC, SYNC and CONFIG renamed away: live refused at once, in one attempt, naming the way out', async () => {
  const source = kept(
    await startPlainSource(running.stack, 'no-psync', [
      ...['--rename-command', 'PSYNC', ''],
      ...['--rename-command', 'SYNC', ''],
      ...['--rename-command', 'CONFIG', ''],
    ]),
  );
  await fillEveryType(source, 'managed:');
  const port = source.options.port!;
  const { failure, seconds } = await refusedRun(
    refusals,
    { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port } },
    'planMigration',
  );
  expect(failure.type).toBe(ErrorType.SourceCannotReplicate);
  expect(failure.message).toContain(`127.0.0.1:${port}`);
  expect(failure.message).toContain('PSYNC, SYNC');
  expect(failure.message).toContain('"mode": "snapshot"');
  expect(seconds).toBeLessThan(5);
});

test('a replica given as a live source: refused, naming its master', async () => {
  const master = kept(await startPlainSource(running.stack, 'replica-master'));
  const port = master.options.port!;
  const replica = kept(await startPlainSource(running.stack, 'replica', ['--replicaof', '127.0.0.1', String(port)]));
  const { failure, seconds } = await refusedRun(
    refusals,
    { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: replica.options.port! } },
    'planMigration',
  );
  expect(failure.type).toBe(ErrorType.SourceNotMaster);
  expect(failure.message).toContain(`is a replica of 127.0.0.1:${port}`);
  expect(seconds).toBeLessThan(5);
});

test('a source user without the replication permissions: refused in one attempt, naming what to grant', async () => {
  const source = kept(await startPlainSource(running.stack, 'acl-source'));
  process.env.RCO_TEST_SOURCE_PASSWORD = 'source-pw';
  await source.call('ACL', 'SETUSER', 'nopsync', 'on', '>source-pw', '~*', '&*', '+@all', '-psync', '-sync');
  const { failure, seconds } = await refusedRun(
    refusals,
    {
      mode: 'live',
      source: {
        type: 'standalone',
        host: '127.0.0.1',
        port: source.options.port!,
        auth: { username: 'nopsync', passwordEnv: 'RCO_TEST_SOURCE_PASSWORD' },
      },
    },
    'syncShardChunk',
  );
  expect(failure.type).toBe(ErrorType.SourceCannotReplicate);
  expect(failure.message).toMatch(/NOPERM .*'psync'/);
  expect(failure.message).toContain('+psync +replconf +sync');
  expect(seconds).toBeLessThan(5);
});

test('a source that cuts its snapshot off twice in a row: stopped once, saying why, after two snapshots', async () => {
  // The classic full-sync loop: the writes a source holds for a replica while it sends the snapshot pass
  // client-output-buffer-limit replica, the source drops the replica, and the replica asks for a new snapshot.
  const port = await freePortBlock(1);
  const args = ['--cluster-enabled', 'no', '--repl-diskless-sync-delay', '0', '--enable-debug-command', 'yes'];
  await startTestRedis(port, path.join(running.stack.stateDir, 'buffer-cut'), args, 'valkey-server');
  const source = kept(new Redis({ host: '127.0.0.1', port }));
  // Since Redis 7.0 the limit a replica meets is never below the replication backlog: both are small here.
  await source.config('SET', 'client-output-buffer-limit', 'replica 256kb 0 0', 'repl-backlog-size', '256kb');
  // A snapshot of 300,000 keys takes the sync a few seconds to read...
  await source.call('DEBUG', 'POPULATE', '300000', 'cut:', '100');
  // ... while 2 KB writes at 1,000 a second (2 MB a second) are held for it, against 256 KB.
  const load = startWriteLoad(source.duplicate(), {
    opsPerSecond: 1000,
    maxSeconds: 60,
    mix: (_random, n) => ({ command: ['set', `cut:load:${n % 1000}`, 'x'.repeat(2048)], key: `cut:load:${n % 1000}` }),
  });
  try {
    // The writes flow before the first snapshot starts: a snapshot sent while none came would load whole.
    await waitFor('the write load to run', async () => (load.stats.ops >= 500 ? true : undefined), 10_000);
    const handle = await running.client.migrate({
      ...refusals,
      migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port } },
    });
    const failure = await handle.result().then(
      () => {
        throw new Error('the migration succeeded');
      },
      (err: unknown) => rootApplicationFailure(err),
    );
    console.log(`cut off: ${failure.message}`);
    expect(failure.type).toBe(ErrorType.SourceCannotReplicate);
    expect(failure.message).toContain('closed the link twice in a row before the end of the snapshot');
    expect(failure.message).toContain('client_output_buffer_limit_disconnections went up');
    // Temporal records the start of an activity's last attempt only: the second.
    expect(await attempts(handle, 'syncShardChunk')).toEqual([2]);
    expect((await syncStats(source)).full).toBe(2);
  } finally {
    await load.stop();
  }
});

async function progressOf(spec: ClusterSpec) {
  return (await running.client.progress(migrationWorkflowId(spec.name))).migration;
}

function streaming(spec: ClusterSpec) {
  return waitFor(
    'every source streaming',
    async () => ((await progressOf(spec))?.sync?.every((s) => s.phase === 'streaming') ? true : undefined),
    120_000,
  );
}

/** The source's own replication counters: full syncs and partial resyncs it served. */
async function syncStats(redis: Redis): Promise<{ full: number; partialOk: number }> {
  const stats = parseInfo((await redis.info('stats')) as string);
  return { full: Number(stats.sync_full), partialOk: Number(stats.sync_partial_ok) };
}

/** Every source key in the cluster, and no key in the cluster that the source lacks. */
async function expectSameKeys(source: Redis, spec: ClusterSpec): Promise<void> {
  const compared = await compareAllKeys([source], targets(spec), { replicated: true });
  expect(compared.differences).toEqual([]);
  expect(compared.compared).toBeGreaterThan(1000);
  expect(await keysOnlyInTarget([source], targets(spec))).toEqual([]);
}

const load = (client: Redis, prefix: string, seed: number) =>
  startWriteLoad(client, { opsPerSecond: 1000, maxSeconds: 60, mix: everyTypeMix(prefix, 2000, { db1: false }), seed });

test('a TLS-only source that checks client certificates: live under a write load, cutover, every key both ways', async () => {
  const files = makeCertificates(path.join(running.stack.stateDir, 'source-certs'));
  const tls = { ca: readFileSync(files.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  const port = await freePortBlock(1);
  await startTestRedis(
    port,
    path.join(running.stack.stateDir, 'tls-source'),
    [
      ...['--cluster-enabled', 'no', '--port', '0', '--tls-port', String(port)],
      ...['--tls-cert-file', files.certFile, '--tls-key-file', files.keyFile, '--tls-ca-cert-file', files.caFile],
      ...['--tls-auth-clients', 'yes', '--tls-replication', 'yes'],
    ],
    'redis-server',
    { auth: {}, tls },
  );
  const source = kept(new Redis({ host: '127.0.0.1', port, tls }));
  await fillEveryType(source, 'tls:');
  const spec = await provisioned('tls-source');
  const writes = load(source.duplicate(), 'load:', 7);
  await running.client.migrate({
    ...spec,
    migration: {
      mode: 'live',
      source: { type: 'standalone', host: '127.0.0.1', port, tls: { ...files, serverName: '127.0.0.1' } },
    },
  });
  await streaming(spec);
  await sleep(3000);
  const stats = await writes.stop();
  const report = await running.client.cutover(spec.name, { pauseBudgetMs: 2000, verify: 'all' });
  console.log(`TLS source: load ${stats.ops} ops; cutover ${JSON.stringify(report).slice(0, 300)}`);
  expect(report.done).toBe(true);
  expect(report.paused).toEqual([`127.0.0.1:${port}`]);
  await expectSameKeys(source, spec);
});

test('a source failed over by hand during the sync: the sync follows, the cutover holds the new master', async () => {
  // The sources ping their replicas rarely: a ping the old master sends after the promotion is in no history of the
  // new master's, so the old master takes a full sync of the new one, and its replicas (ours, read through it) too.
  const [first, second] = await masterAndReplica('failover', ['--repl-ping-replica-period', '60']);
  await fillEveryType(first, 'fo:');
  const spec = await provisioned('manual-failover');
  let writes = load(first.duplicate(), 'load:', 11);
  await running.client.migrate({
    ...spec,
    migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: first.options.port! } },
  });
  await streaming(spec);
  await sleep(2000);
  await writes.stop();
  await waitFor('the replica caught up', async () =>
    parseInfo((await second.info('replication')) as string).master_link_status === 'up' ? true : undefined,
  );
  // The promotion as an operator does it: the replica first, then the old master follows it.
  await second.call('REPLICAOF', 'NO', 'ONE');
  await first.call('REPLICAOF', '127.0.0.1', String(second.options.port));
  writes = load(second.duplicate(), 'after:', 12);
  const newMaster = `127.0.0.1:${second.options.port}`;
  const entry = await waitFor(
    'the progress naming the new master',
    async () => (await progressOf(spec))?.sync?.find((s) => s.writesGoTo === newMaster),
    60_000,
  );
  console.log(`after the failover: ${JSON.stringify(entry)}`);
  expect(entry.warning).toContain(newMaster);
  await sleep(2000);
  await writes.stop();
  const report = await running.client.cutover(spec.name, { pauseBudgetMs: 2000, verify: 'all' });
  console.log(`manual failover: cutover ${JSON.stringify(report).slice(0, 300)}`);
  expect(report.done).toBe(true);
  expect(report.paused).toEqual([newMaster]);
  const result = await running.client.migrationResult(spec.name);
  expect(result.migration.sync?.[0]?.fullResyncs).toBe(1);
  await expectSameKeys(second, spec);
});

/** A standalone master and its replica. */
async function masterAndReplica(name: string, extra: string[] = []): Promise<[Redis, Redis]> {
  const master = kept(await startPlainSource(running.stack, `${name}-a`, extra));
  const port = String(master.options.port);
  return [
    master,
    kept(await startPlainSource(running.stack, `${name}-b`, [...extra, '--replicaof', '127.0.0.1', port])),
  ];
}

/** Three Sentinels watching `masterPort` as "mymaster", with quick failure detection. */
async function startSentinels(masterPort: number): Promise<{ host: string; port: number }[]> {
  const base = await freePortBlock(3);
  const sentinels = [base, base + 1, base + 2].map((port) => ({ host: '127.0.0.1', port }));
  for (const { port } of sentinels)
    await startTestSentinel(port, path.join(running.stack.stateDir, `sentinel-${port}.conf`), [
      `sentinel monitor mymaster 127.0.0.1 ${masterPort} 2`,
      'sentinel down-after-milliseconds mymaster 2000',
      'sentinel failover-timeout mymaster 20000',
    ]);
  return sentinels;
}

test('a Sentinel source failed over during the stream: a partial resync from the new master, cutover, every key both ways', async () => {
  const [first, second] = await masterAndReplica('sentinel');
  await fillEveryType(first, 'sn:');
  const sentinels = await startSentinels(first.options.port!);
  const sentinel = kept(new Redis(sentinels[0]!));
  await waitFor('the Sentinels to know the replica and each other', async () => {
    const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', 'mymaster')) as string[][];
    const others = (await sentinel.call('SENTINEL', 'SENTINELS', 'mymaster')) as string[][];
    return replicas.length === 1 && others.length === 2 ? true : undefined;
  });
  const spec = await provisioned('sentinel');
  // Clients of a Sentinel source ask the Sentinels too, and follow the new master.
  const writer = kept(new Redis({ sentinels, name: 'mymaster', reconnectOnError: (e) => /READONLY/.test(e.message) }));
  let writes = load(writer, 'load:', 21);
  await running.client.migrate({
    ...spec,
    migration: { mode: 'live', source: { type: 'sentinel', masterName: 'mymaster', sentinels } },
  });
  await streaming(spec);
  await sleep(2000);
  // Writes the old master takes after the promotion are lost by Redis itself: the load stops for the switch.
  await writes.stop();
  const before = await syncStats(second);
  await sentinel.call('SENTINEL', 'FAILOVER', 'mymaster');
  const newMaster = `127.0.0.1:${second.options.port}`;
  await waitFor('the Sentinels to name the new master', async () => {
    const [host, port] = (await sentinel.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')) as string[];
    return `${host}:${port}` === newMaster ? true : undefined;
  });
  // Until the Sentinels turn the old master into a replica, a client still connected to it writes there, and those
  // writes are lost by Redis itself (the old master takes a snapshot of the new one): the load waits for that.
  await waitFor('the old master to follow the new one', async () =>
    parseInfo((await first.info('replication')) as string).role === 'slave' ? true : undefined,
  );
  writes = load(writer, 'after:', 22);
  const entry = await waitFor(
    'the sync reading the new master',
    async () => (await progressOf(spec))?.sync?.find((s) => s.streamedFrom === newMaster && s.partialResyncs > 0),
    90_000,
  );
  console.log(`after the failover: ${JSON.stringify(entry)}`);
  await sleep(3000);
  const stats = await writes.stop();
  const report = await running.client.cutover(spec.name, { pauseBudgetMs: 2000, verify: 'all' });
  console.log(
    `Sentinel: load ${stats.ops} ops (${stats.errors} errors); cutover ${JSON.stringify(report).slice(0, 300)}`,
  );
  expect(report.done).toBe(true);
  expect(report.paused).toEqual([newMaster]);
  const result = await running.client.migrationResult(spec.name);
  expect(result.migration.sync?.[0]?.fullResyncs).toBe(1);
  // The new master served our sync a partial resync. (Its full syncs count the old master's own: the Sentinels' hello
  // messages went on in the old master's stream past the promotion, and Redis cannot rejoin that; our sync can.)
  const after = await syncStats(second);
  console.log(`new master served: ${JSON.stringify(before)} before, ${JSON.stringify(after)} after`);
  expect(after.partialOk).toBeGreaterThan(before.partialOk);
  await expectSameKeys(second, spec);
});
