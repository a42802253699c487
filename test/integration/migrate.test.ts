/**
 * Data migration on real servers: a standalone source, a 3-master source cluster, and an RDB file in the real S3
 * store, each copied into a real provisioned cluster through the real worker, then compared key by key.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RedisClusterClient } from '../../src/client';
import { freePort } from '../../src/host/processes';
import { localS3Client } from '../../src/local/seed';
import { withNode } from '../../src/redis/connection';
import { type ClusterSpec, ErrorType, type MigrationSpecInput, adminAddress, masters } from '../../src/model';
import { compareAllKeys, fillBigHash, fillEveryType } from '../helpers/dataset';
import { expectRefusal } from '../helpers/failures';
import { historyText } from '../helpers/history';
import { startPlainCluster } from '../helpers/plain-cluster';
import { startTestRedis } from '../helpers/servers';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { type Stack, freePortBlock, seedTopology } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

let stack: Stack;
let client: RedisClusterClient;
let running: RunningStack;
let target: ClusterSpec;

beforeAll(async () => {
  running = await startRunningStack('migrate');
  ({ stack, client } = running);
});

afterAll(async () => {
  await running?.stop();
});

type MigrationInput = MigrationSpecInput;

async function provisionWith(name: string, migration?: MigrationInput) {
  const spec = { ...(await seedTopology(stack, name)), migration } as ClusterSpec;
  await client.provision(spec);
  return { spec, result: await client.result(spec.name) };
}

async function startSource(extra: string[] = []): Promise<Redis> {
  const port = await freePortBlock(1);
  await startTestRedis(port, path.join(stack.stateDir, `source-${port}`), ['--cluster-enabled', 'no', ...extra]);
  return new Redis({ host: '127.0.0.1', port, lazyConnect: true });
}

const targetMasters = (spec: ClusterSpec) => masters(spec).map(adminAddress);

test('standalone source: every type, binary names, TTLs, and a 500,000-field hash by the chunked path', async () => {
  const source = await startSource();
  await fillEveryType(source);
  await fillBigHash(source, 'big:hash', 500_000);
  const { spec, result } = await provisionWith('mig-standalone', {
    source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
    verify: { sample: 200, all: false },
  });
  target = spec;
  const report = result.migration!;
  expect(report.unequal).toEqual([]);
  expect(report.shards).toHaveLength(1);
  expect(report.shards[0]!.bigKeys).toBeGreaterThanOrEqual(1);
  expect(report.shards[0]!.failed).toBe(0);
  expect(report.verification[0]!.checked).toBeGreaterThan(100);

  const { compared, differences } = await compareAllKeys([source], targetMasters(spec));
  expect(differences).toEqual([]);
  expect(compared).toBe(await source.dbsize());
  // Keys already expired are not carried; the stream's consumer groups are.
  const owner = report.targetKeys.reduce((sum, n) => sum + n.keys, 0);
  expect(owner).toBe(await source.dbsize());
  const cluster = new Redis.Cluster(targetMasters(spec));
  try {
    expect(await cluster.exists('expired')).toBe(0);
    expect(await cluster.hlen('big:hash')).toBe(500_000);
    expect(((await cluster.xinfo('GROUPS', 'stream')) as unknown[][]).length).toBe(2);
    expect(await cluster.pfcount('hll')).toBe(await source.pfcount('hll'));
  } finally {
    cluster.disconnect();
    source.disconnect();
  }
});

test('3-master source cluster: one reader per source master, every key equal', async () => {
  const { nodes } = await startPlainCluster(path.join(stack.stateDir, 'source-cluster'));
  const sourceCluster = new Redis.Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.options.port! })));
  await fillEveryType(sourceCluster);
  sourceCluster.disconnect();
  const { spec, result } = await provisionWith('mig-cluster', {
    source: { type: 'cluster', nodes: [{ host: '127.0.0.1', port: nodes[0]!.options.port! }] },
  });
  const report = result.migration!;
  expect(report.shards.map((s) => s.shard).sort()).toEqual(nodes.map((n) => `127.0.0.1:${n.options.port}`).sort());
  expect(report.unequal).toEqual([]);
  const { compared, differences } = await compareAllKeys(nodes, targetMasters(spec));
  expect(differences).toEqual([]);
  expect(compared).toBe((await Promise.all(nodes.map((n) => n.dbsize()))).reduce((a, b) => a + b, 0));
  nodes.forEach((n) => n.disconnect());
});

test('RDB file in S3: loaded into a temporary redis-server and copied into the existing cluster', async () => {
  const source = await startSource();
  await fillEveryType(source, 'rdb:');
  await source.save();
  const [, dir] = (await source.config('GET', 'dir')) as string[];
  const s3 = localS3Client(stack.s3.address);
  await s3.send(
    new PutObjectCommand({
      Bucket: 'quotemedia-backups',
      Key: 'old/shard-1.rdb',
      Body: readFileSync(path.join(dir!, 'dump.rdb')),
    }),
  );
  s3.destroy();
  const spec = {
    ...target,
    migration: { source: { type: 'rdb', objects: ['s3://quotemedia-backups/old/shard-1.rdb'] } },
  };
  const handle = await client.client.workflow.start('migrateRedisData', {
    taskQueue: 'redis-cluster',
    workflowId: 'migrate-rdb',
    args: [spec],
  });
  const result = (await handle.result()) as { migration: { unequal: unknown[]; shards: { copied: number }[] } };
  expect(result.migration.unequal).toEqual([]);
  expect(result.migration.shards[0]!.copied).toBe(await source.dbsize());
  const { differences } = await compareAllKeys([source], targetMasters(target));
  expect(differences).toEqual([]);
  source.disconnect();
});

test('a source with a password: the secret is read from the environment and appears nowhere in the history', async () => {
  const secret = `pw-${Math.random().toString(36).slice(2)}-never-in-history`;
  const started = await startSource(['--requirepass', secret]);
  const source = new Redis({ host: '127.0.0.1', port: started.options.port!, password: secret });
  await fillEveryType(source, 'auth:');
  process.env.RCO_TEST_SOURCE_PASSWORD = secret; // the in-process worker's environment
  const handle = await client.client.workflow.start('migrateRedisData', {
    taskQueue: 'redis-cluster',
    workflowId: 'migrate-with-password',
    args: [
      {
        ...target,
        migration: {
          source: {
            type: 'standalone',
            host: '127.0.0.1',
            port: source.options.port!,
            auth: { passwordEnv: 'RCO_TEST_SOURCE_PASSWORD' },
          },
        },
      },
    ],
  });
  const result = (await handle.result()) as { migration: { unequal: unknown[]; shards: { copied: number }[] } };
  expect(result.migration.unequal).toEqual([]);
  expect(result.migration.shards[0]!.copied).toBe(await source.dbsize());
  const history = await historyText(handle);
  expect(history).toContain('RCO_TEST_SOURCE_PASSWORD');
  expect(history).not.toContain(secret);
  source.disconnect();
});

describe('bad migration input: a clear non-retryable failure, nothing written', () => {
  let attempt = 0;
  function refusal(migration: MigrationInput, spec: ClusterSpec = target) {
    return expectRefusal(client.client, 'migrateRedisData', `migrate-bad-${++attempt}`, { ...spec, migration });
  }

  const targetKeyCount = async () => {
    let total = 0;
    for (const address of targetMasters(target)) total += await withNode(address, (c) => c.dbsize());
    return total;
  };

  test('unreachable source', async () => {
    const before = await targetKeyCount();
    const port = await freePort();
    const failure = await refusal({ source: { type: 'standalone', host: '127.0.0.1', port } });
    expect(failure.type).toBe(ErrorType.SourceUnreachable);
    expect(failure.message).toContain(`migration source 127.0.0.1:${port} is unreachable`);
    expect(await targetKeyCount()).toBe(before);
  });

  test('wrong password', async () => {
    const source = await startSource(['--requirepass', 'right-secret']);
    process.env.RCO_TEST_WRONG_PASSWORD = 'wrong-secret';
    const failure = await refusal({
      source: {
        type: 'standalone',
        host: '127.0.0.1',
        port: source.options.port!,
        auth: { passwordEnv: 'RCO_TEST_WRONG_PASSWORD' },
      },
    });
    expect(failure.type).toBe(ErrorType.SourceAuthFailed);
    expect(failure.message).toContain('refused the credentials of migration.source.auth');
    expect(failure.message).not.toContain('wrong-secret');
  });

  test('a source db > 0 with no mapping', async () => {
    const source = await startSource();
    await source.select(3);
    await source.set('in-db-3', 'x');
    const before = await targetKeyCount();
    const failure = await refusal({ source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } });
    expect(failure.type).toBe(ErrorType.SourceDbNotMapped);
    expect(failure.message).toContain('has keys in db 3 (1 keys)');
    expect(await targetKeyCount()).toBe(before);
    source.disconnect();
  });

  test('a target slot not covered', async () => {
    const source = await startSource();
    await source.set('a', 'b');
    const port = await freePortBlock(1);
    await startTestRedis(port, path.join(stack.stateDir, `partial-${port}`));
    await withNode({ host: '127.0.0.1', port }, (c) => c.call('CLUSTER', 'ADDSLOTSRANGE', '0', '100'));
    const partial = {
      ...target,
      name: 'partial',
      nodes: [{ id: 'p1', host: '127.0.0.1', port, role: 'master', slots: ['0-16383'], config: 'render:' }],
      dataDir: '/tmp',
    } as ClusterSpec;
    const failure = await refusal(
      { source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } },
      partial,
    );
    expect(failure.type).toBe(ErrorType.TargetSlotsUncovered);
    expect(failure.message).toContain('slots 101-16383 have no owner');
    expect(await withNode({ host: '127.0.0.1', port }, (c) => c.dbsize())).toBe(0);
    source.disconnect();
  });
});
