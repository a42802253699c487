/**
 * A long copy keeps its history bounded: on a real Temporal dev server told to suggest continue-as-new after a few
 * events, a real copy (two source databases, throttled to last about 30 s) continues as new run after run, and
 * every key arrives. Real redis-servers, S3 store and worker.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type Redis from 'ioredis';
import { migrationWorkflowId } from '../../src/client';
import { adminAddress, masters } from '../../src/model';
import { compareAllKeys } from '../helpers/dataset';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { seedTopology, startPlainSource } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

let running: RunningStack;
const KEYS = 30_000;

beforeAll(async () => {
  running = await startRunningStack('long-run', { dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 12 } });
});

afterAll(async () => {
  await running?.stop();
});

async function fill(source: Redis, db: number): Promise<void> {
  await source.select(db);
  for (let start = 0; start < KEYS; start += 10_000) {
    const pipeline = source.pipeline();
    for (let i = start; i < start + 10_000; i++) pipeline.set(`db${db}:key:${i}`, `value-${i}`, 'PX', 3_600_000);
    await pipeline.exec();
  }
  await source.select(0);
}

test('a throttled copy continues as new at least three times; every key arrives and the report counts them all', async () => {
  const { client, stack } = running;
  const source = await startPlainSource(stack, 'long-source');
  await fill(source, 0);
  await fill(source, 1);
  const spec = await seedTopology(stack, 'long-target');
  await client.provision(spec);
  await client.result(spec.name);

  await client.migrate({
    ...spec,
    migration: {
      source: {
        type: 'standalone',
        host: '127.0.0.1',
        port: source.options.port!,
        databases: { '0': { prefix: '' }, '1': { prefix: 'from-db1:' } },
      },
      keysPerSecond: 2000, // 1,000 per database: about 30 s, six chunks each
    },
  });
  const id = migrationWorkflowId(spec.name);
  const result = await client.migrationResult(spec.name);
  const runs: string[] = [];
  for await (const execution of client.client.workflow.list({ query: `WorkflowId = "${id}"` }))
    runs.push(execution.runId);
  const progress = await client.progress(id);
  console.log(`copy of ${2 * KEYS} keys in ${runs.length} runs`);
  expect(runs.length).toBeGreaterThanOrEqual(4);
  expect(progress.runs).toBe(runs.length);

  const report = result.migration;
  expect(report.unequal).toEqual([]);
  expect(report.shards.map((s) => [s.shard, s.copied, s.done])).toEqual([
    [`127.0.0.1:${source.options.port}/db0`, KEYS, true],
    [`127.0.0.1:${source.options.port}/db1`, KEYS, true],
  ]);
  const targets = masters(spec).map(adminAddress);
  const db0 = await compareAllKeys([source], targets);
  expect(db0.differences).toEqual([]);
  const db1Source = source.duplicate({ db: 1 });
  const db1 = await compareAllKeys([db1Source], targets, { prefix: 'from-db1:' });
  expect(db1.differences).toEqual([]);
  expect(db0.compared + db1.compared).toBe(2 * KEYS);
  // Exactly the copied keys: nothing else, no checkpoint key of any run.
  expect(report.targetKeys.reduce((sum, n) => sum + n.keys, 0)).toBe(2 * KEYS);
  db1Source.disconnect();
  source.disconnect();
});
