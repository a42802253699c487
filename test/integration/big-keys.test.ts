/**
 * Keys of any size (bounded for CI): a source with a hash of 1,000,000 fields, a sorted set of 100,000 members and a
 * stream of 50,000 entries with a consumer group and pending entries, copied live (the snapshot's big values parsed
 * in a few passes, not one per chunk) and by snapshot, then verified piece by piece and compared key by key.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import Redis from 'ioredis';
import path from 'node:path';
import { type RedisClusterClient, migrationWorkflowId } from '../../src/client';
import { type ClusterSpec, adminAddress, masters } from '../../src/model';
import { compareAllKeys, fillBigHash } from '../helpers/dataset';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { startTestRedis } from '../helpers/servers';
import { type Stack, freePortBlock, seedTopology } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

Runtime.install({ logger: new DefaultLogger('WARN') });

let running: RunningStack;
let stack: Stack;
let client: RedisClusterClient;
let source: Redis;

beforeAll(async () => {
  running = await startRunningStack('big-keys');
  ({ stack, client } = running);
  const port = await freePortBlock(1);
  await startTestRedis(port, path.join(stack.stateDir, 'source'), ['--cluster-enabled', 'no']);
  source = new Redis({ host: '127.0.0.1', port });
  await fillBigHash(source, 'big:hash', 1_000_000);
  for (let start = 0; start < 100_000; start += 10_000) {
    const args: (string | number)[] = [];
    for (let i = start; i < start + 10_000; i++) args.push(i / 7, `member:${i}`);
    await source.zadd('big:zset', ...args);
  }
  for (let start = 0; start < 50_000; start += 10_000) {
    const pipeline = source.pipeline();
    for (let i = start; i < start + 10_000; i++) pipeline.xadd('big:stream', '*', 'n', String(i));
    await pipeline.exec();
  }
  await source.xgroup('CREATE', 'big:stream', 'readers', '0');
  await source.xreadgroup('GROUP', 'readers', 'r1', 'COUNT', 5000, 'STREAMS', 'big:stream', '>');
  await source.set('small', 'v');
});

afterAll(async () => {
  source?.disconnect();
  await running?.stop();
});

const targets = (spec: ClusterSpec) => masters(spec).map(adminAddress);

test('live: the snapshot with big values loads, streams, cuts over verified; every key equal', async () => {
  const spec = await seedTopology(stack, 'big-live');
  await client.provision(spec);
  await client.result(spec.name);
  const started = Date.now();
  await client.migrate({
    ...spec,
    migration: { mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } },
  });
  await waitFor(
    'the source streaming',
    async () =>
      (await client.progress(migrationWorkflowId(spec.name))).migration?.sync?.[0]?.phase === 'streaming'
        ? true
        : undefined,
    180_000,
  );
  const loaded = (Date.now() - started) / 1000;
  const report = await client.cutover(spec.name, { verify: 'all' });
  console.log(`big keys live: streaming after ${loaded.toFixed(1)} s; cutover verified ${report.keysVerified} keys`);
  expect(report.differences).toEqual([]);
  const { compared, differences } = await compareAllKeys([source], targets(spec), { replicated: true });
  expect(differences).toEqual([]);
  expect(compared).toBe(4);
});

test('snapshot: big keys copied piece by piece, verified piece by piece; every key equal', async () => {
  const spec = await seedTopology(stack, 'big-snapshot');
  await client.provision(spec);
  await client.result(spec.name);
  await client.migrate({
    ...spec,
    migration: {
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
      verify: { all: true, sample: 0 },
    },
  });
  const result = await client.migrationResult(spec.name);
  expect(result.migration.unequal).toEqual([]);
  expect(result.migration.shards[0]!.bigKeys).toBeGreaterThanOrEqual(1);
  const { compared, differences } = await compareAllKeys([source], targets(spec));
  expect(differences).toEqual([]);
  expect(compared).toBe(4);
});
