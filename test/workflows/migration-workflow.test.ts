/**
 * The migration part of the workflows with mocked activities, on a real Temporal dev server that suggests
 * continue-as-new after a few dozen events: histories stay bounded while the copy goes on, cursors carried run to
 * run; pause, resume and throttle act across runs; verification reports every difference it keeps finding.
 */
import type { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CopyChunkInput, CopyChunkResult } from '../../src/migration/copy';
import type { Shard } from '../../src/migration/sources';
import type { ShardVerification } from '../../src/migration/verify';
import { type ClusterSpecInput, ErrorType, type WriteStamp } from '../../src/model';
import { pauseSignal, progressQuery, resumeSignal, throttleUpdate } from '../../src/workflows/messages';
import type { MigrationReport } from '../../src/workflows/verify-phase';
import { rootApplicationFailure } from '../helpers/failures';
import { mockedWorkers } from '../helpers/mocked-workers';
import { localTestEnv } from '../helpers/test-env';
import { sleep, waitFor } from '../helpers/wait';

Runtime.install({ logger: new DefaultLogger('WARN') });

let env: TestWorkflowEnvironment;
let counter = 0;
const seed = JSON.parse(
  readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8'),
) as ClusterSpecInput;
const spec = {
  ...seed,
  migration: { source: { type: 'standalone', host: '10.0.0.5', port: 6379 } },
} as ClusterSpecInput;

beforeAll(async () => {
  env = await localTestEnv({ suggestContinueAsNewAfter: 40 });
});

afterAll(async () => {
  await env?.teardown();
});

const shards: Shard[] = [
  { id: 'old:6379/db0', host: '10.0.0.5', port: 6379, db: 0, prefix: '', keys: 30_000 },
  { id: 'old:6379/db1', host: '10.0.0.5', port: 6379, db: 1, prefix: 'db1:', keys: 30_000 },
];
const CHUNKS_PER_SHARD = 30;

const clean = (shard: Shard): ShardVerification => ({
  shard: shard.id,
  sourceKeys: shard.keys,
  sourceKeysWithTtl: 0,
  checked: shard.keys,
  repaired: 0,
  differences: [],
  differencesFound: 0,
  ttlDriftMaxMs: 0,
});
const stamp = (dirty: number): WriteStamp => ({
  node: '10.0.0.5:6379',
  runId: 'r',
  replOffset: 0,
  dirty,
  saves: 0,
  expired: 0,
  evicted: 0,
});

/** Mocked migration activities: each chunk copies 1,000 keys and returns the next cursor. */
function migrationMocks(
  record: CopyChunkInput[],
  overrides: Record<string, (...args: never[]) => Promise<unknown>> = {},
) {
  return {
    planMigration: async () => ({ shards, totalKeys: 60_000, writeStamps: [stamp(0)], targetUserKeys: 0 }),
    copyShardChunk: async (input: CopyChunkInput): Promise<CopyChunkResult> => {
      record.push(input);
      const n = Number(input.cursor) + 1;
      return {
        cursor: n >= CHUNKS_PER_SHARD ? '0' : String(n),
        done: n >= CHUNKS_PER_SHARD,
        counters: { ...input.counters, batches: n, scanned: n * 1000, copied: n * 1000 },
        mode: 'migrate',
        failedKeys: [],
      };
    },
    clearCheckpoints: async () => 0,
    readSourceWriteStamps: async () => [stamp(0)],
    verifyShardKeys: async (input: { shard: Shard }) => clean(input.shard),
    countTargetKeys: async () => [{ node: 'a', keys: 60_000, withTtl: 0 }],
    findExtraKeys: async () => ({ checked: 0, removed: 0, differences: [], differencesFound: 0 }),
    ...overrides,
  };
}

async function withWorker<T>(activities: object, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `migration-wf-${++counter}`;
  const worker = await mockedWorkers(env.nativeConnection, taskQueue, activities);
  return worker.runUntil(fn(taskQueue));
}

test('a long copy continues as new again and again, each chunk run once, cursors carried, report complete', async () => {
  const chunks: CopyChunkInput[] = [];
  const workflowId = `long-copy-${counter}`;
  const result = await withWorker(migrationMocks(chunks), async (taskQueue) => {
    const handle = await env.client.workflow.start('migrateRedisData', { taskQueue, workflowId, args: [spec] });
    const value = (await handle.result()) as { migration: MigrationReport };
    return { value, progress: await handle.query(progressQuery) };
  });
  let runs = 0;
  for await (const _execution of env.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) runs++;
  console.log(`${chunks.length} chunks in ${runs} runs`);
  expect(runs).toBeGreaterThanOrEqual(4); // continued as new at least three times
  expect(result.progress.runs).toBe(runs);
  for (const shard of shards) {
    const cursors = chunks.filter((c) => c.shard.id === shard.id).map((c) => c.cursor);
    // Every cursor once, in order: nothing copied twice, nothing skipped, across every run.
    expect(cursors).toEqual(Array.from({ length: CHUNKS_PER_SHARD }, (_, i) => String(i)));
  }
  // One migration: the same first run id on every chunk (its checkpoints outlive the runs).
  expect(new Set(chunks.map((c) => c.firstRunId)).size).toBe(1);
  expect(result.value.migration.shards.map((s) => [s.shard, s.copied, s.done])).toEqual([
    [shards[0]!.id, 30_000, true],
    [shards[1]!.id, 30_000, true],
  ]);
  expect(result.value.migration.unequal).toEqual([]);
});

test('pause, resume and the throttle act across runs', async () => {
  const chunks: CopyChunkInput[] = [];
  let release: () => void = () => undefined;
  let gate = Promise.resolve();
  const mocks = migrationMocks(chunks);
  const copy = mocks.copyShardChunk;
  mocks.copyShardChunk = async (input) => {
    await gate;
    return copy(input);
  };
  await withWorker(mocks, async (taskQueue) => {
    const handle = await env.client.workflow.start('migrateRedisData', {
      taskQueue,
      workflowId: `controls-${counter}`,
      args: [spec],
    });
    await waitFor('copying', async () => (chunks.length > 2 ? true : undefined));
    expect(await handle.executeUpdate(throttleUpdate, { args: [5000] })).toBe(5000);
    await expect(handle.executeUpdate(throttleUpdate, { args: [-3] })).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/positive number of keys per second/) },
    });
    gate = new Promise((resolve) => (release = resolve));
    await handle.signal(pauseSignal);
    release();
    await sleep(1500);
    const pausedAt = chunks.length;
    await sleep(1500);
    expect(chunks.length).toBe(pausedAt); // paused: no chunk starts
    expect((await handle.query(progressQuery)).migration?.paused).toBe(true);
    await handle.signal(resumeSignal);
    await handle.result();
    const after = chunks.slice(pausedAt);
    expect(after.length).toBeGreaterThan(0);
    // The throttle in force, split between the two shards, in every later chunk, whichever run sent it.
    expect(after.every((c) => c.keysPerSecond === 2500)).toBe(true);
  });
});

test('differences that stay fail the run with DataVerifyFailed, listed and counted', async () => {
  const chunks: CopyChunkInput[] = [];
  const failure = await withWorker(
    migrationMocks(chunks, {
      verifyShardKeys: async (input: { shard: Shard }) => ({
        ...clean(input.shard),
        differences: [{ key: 'a2V5', printable: 'key', reason: 'value differs' }],
        differencesFound: 1200,
      }),
    }),
    async (taskQueue) => {
      const handle = await env.client.workflow.start('migrateRedisData', {
        taskQueue,
        workflowId: `differences-${counter}`,
        args: [spec],
      });
      return handle.result().then(
        () => undefined,
        (err: unknown) => rootApplicationFailure(err),
      );
    },
  );
  expect(failure?.type).toBe(ErrorType.DataVerifyFailed);
  expect(failure?.message).toContain('2400 key(s) still differ after 3 round(s)');
  expect(failure?.message).toContain('2 listed in this failure');
  expect(failure?.message).toContain('2398 more not listed');
  const report = (failure as ApplicationFailure).details?.[0] as MigrationReport;
  expect(report.unequalNotListed).toBe(2398);
});

test('a source still taking writes while verified: passes again, then fails naming the writes', async () => {
  let dirty = 0;
  const compared: string[] = [];
  const chunks: CopyChunkInput[] = [];
  const failure = await withWorker(
    migrationMocks(chunks, {
      readSourceWriteStamps: async () => [stamp((dirty += 100))],
      verifyShardKeys: async (input: { shard: Shard; all?: boolean }) => {
        compared.push(`${input.shard.id}:${input.all ? 'all' : 'sample'}`);
        return clean(input.shard);
      },
    }),
    async (taskQueue) => {
      const handle = await env.client.workflow.start('migrateRedisData', {
        taskQueue,
        workflowId: `moving-${counter}`,
        args: [{ ...spec, migration: { ...spec.migration!, verify: { rounds: 2 } } }],
      });
      return handle.result().then(
        () => undefined,
        (err: unknown) => rootApplicationFailure(err),
      );
    },
  );
  expect(failure?.type).toBe(ErrorType.DataVerifyFailed);
  expect(failure?.message).toContain('the source kept taking writes through 3 verification passes');
  expect(failure?.message).toContain('10.0.0.5:6379 took 100 write(s)');
  // The first pass (a sample: the counts agree), then two more of every key.
  expect(compared.filter((c) => c.startsWith(shards[0]!.id))).toEqual([
    `${shards[0]!.id}:sample`,
    `${shards[0]!.id}:all`,
    `${shards[0]!.id}:all`,
  ]);
});
