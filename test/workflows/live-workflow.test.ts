/**
 * The live sync phase with mocked activities, on a real Temporal dev server that suggests continue-as-new after a
 * few dozen events: streaming goes on across runs with its progress carried; the cutover is refused until every
 * source streams and while paused; a cutover whose lag does not reach zero says why and the sync goes on; one that
 * finds differences fails the run; a source that failed over is shown, and the user's "writes stopped" reaches the
 * drain.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DrainResult, LiveSyncRef, ShardVerification, SyncChunkResult } from '../../src/activities';
import type { Shard } from '../../src/migration/sources';
import { type ClusterSpecInput, ErrorType } from '../../src/model';
import { cutoverUpdate, pauseSignal, progressQuery, resumeSignal } from '../../src/workflows/messages';
import type { MigrateResult } from '../../src/workflows/migrate-redis-data';
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
  migration: { mode: 'live', source: { type: 'standalone', host: '10.0.0.5', port: 6379 } },
} as ClusterSpecInput;
const shard: Shard = { id: '10.0.0.5:6379/db0', host: '10.0.0.5', port: 6379, db: 0, prefix: '', keys: 1000 };

beforeAll(async () => {
  env = await localTestEnv({ suggestContinueAsNewAfter: 40 });
});

afterAll(async () => {
  await env?.teardown();
});

/** A source followed chunk after chunk; `drain` decides the cutover; `differences` what verification finds. */
function liveMocks(options: { drain?: () => DrainResult; differences?: number } = {}) {
  let chunks = 0;
  let stopped = false;
  const calls: string[] = [];
  const mocks = {
    planMigration: async () => ({ shards: [shard], totalKeys: 1000, writeStamps: [], targetUserKeys: 0 }),
    syncShardChunk: async (): Promise<SyncChunkResult> => {
      chunks++;
      await sleep(30);
      return {
        replid: 'r1',
        offset: chunks * 100,
        sourceOffset: chunks * 100 + 5,
        lagBytes: 5,
        lagSeconds: 0.1,
        backlogBytes: 1_000_000,
        ops: 50,
        seconds: 0.03,
        resync: chunks === 1 ? 'full' : 'partial',
        reason: chunks === 1 ? 'first sync' : undefined,
        snapshot: chunks === 1 ? { keys: 1000, expired: 0, removed: 0, waitSeconds: 0, seconds: 0.5 } : undefined,
        stopped,
      };
    },
    verifyShardKeys: async (input: { shard: Shard; live?: LiveSyncRef }): Promise<ShardVerification> => {
      calls.push(`verify:${input.live ? 'live' : 'snapshot'}`);
      const n = options.differences ?? 0;
      return {
        shard: input.shard.id,
        sourceKeys: 1000,
        sourceKeysWithTtl: 0,
        checked: 1000,
        differences: n > 0 ? [{ key: 'aw==', printable: 'k', reason: 'value differs' }] : [],
        differencesFound: n,
        ttlDriftMaxMs: 0,
      };
    },
    findExtraKeys: async () => ({ checked: 1000, removed: 0, differences: [], differencesFound: 0 }),
    pauseAndDrain: async (): Promise<DrainResult> => {
      calls.push('pauseAndDrain');
      const result = options.drain?.() ?? {
        reached: true,
        pausedMs: 12,
        offsets: [{ shard: '10.0.0.5:6379', source: chunks * 100, applied: chunks * 100, backlogBytes: 1_000_000 }],
      };
      if (result.reached) stopped = true;
      return result;
    },
    readSyncOffsets: async () => [{ shard: '10.0.0.5:6379', source: 5000, applied: 4000, backlogBytes: 1200 }],
    clearSyncState: async () => void calls.push('clearSyncState'),
  };
  return { mocks, calls, chunks: () => chunks };
}

async function started(
  mocks: object,
  fn: (handle: Awaited<ReturnType<typeof env.client.workflow.start>>) => Promise<void>,
) {
  const taskQueue = `live-wf-${++counter}`;
  const worker = await mockedWorkers(env.nativeConnection, taskQueue, mocks);
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('migrateRedisData', {
      taskQueue,
      workflowId: `live-${counter}`,
      args: [spec],
    });
    await fn(handle);
  });
}

test('streaming across runs, the cutover refused while paused, then done: the report, the sync state removed', async () => {
  const { mocks, calls, chunks } = liveMocks();
  await started(mocks, async (handle) => {
    await waitFor('a few runs', async () => ((await handle.query(progressQuery)).runs! >= 3 ? true : undefined));
    const progress = await handle.query(progressQuery);
    const sync = progress.migration!.sync![0]!;
    expect(sync).toMatchObject({
      phase: 'streaming',
      fullResyncs: 1,
      lastFullResync: 'first sync',
      snapshotKeys: 1000,
    });
    expect(sync.partialResyncs).toBeGreaterThan(1);
    expect(sync.opsApplied).toBe(50 * (sync.fullResyncs + sync.partialResyncs)); // carried from run to run

    await handle.signal(pauseSignal);
    await waitFor('paused', async () => ((await handle.query(progressQuery)).migration?.paused ? true : undefined));
    await expect(handle.executeUpdate(cutoverUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: expect.stringContaining('paused: resume it first') },
    });
    await expect(handle.executeUpdate(cutoverUpdate, { args: [{ pauseBudgetMs: 5 }] })).rejects.toMatchObject({
      cause: { message: expect.stringContaining('pauseBudgetMs must be between 10 and 60000') },
    });
    await handle.signal(resumeSignal);
    const report = await handle.executeUpdate(cutoverUpdate, { args: [{ pauseBudgetMs: 500, verify: 'all' }] });
    expect(report).toMatchObject({ done: true, writePauseMs: 12, keysVerified: 2000, differences: [] });
    const result = (await handle.result()) as MigrateResult;
    expect(result.migration.cutover).toEqual(report);
    expect(result.migration.sync![0]!.phase).toBe('done');
  });
  expect(calls).toEqual(['verify:live', 'pauseAndDrain', 'clearSyncState']);
  expect(chunks()).toBeGreaterThan(3);
});

test('a cutover whose lag does not reach zero within the budget says why, and the sync goes on to a later cutover', async () => {
  let first = true;
  const { mocks } = liveMocks({
    drain: () => {
      if (!first) return { reached: true, pausedMs: 9, offsets: [] };
      first = false;
      return {
        reached: false,
        pausedMs: 250,
        offsets: [],
        reason: 'the lag did not reach zero within the 250 ms write pause',
      };
    },
  });
  await started(mocks, async (handle) => {
    await waitFor('streaming', async () =>
      (await handle.query(progressQuery)).migration?.sync?.[0]?.phase === 'streaming' ? true : undefined,
    );
    const refused = await handle.executeUpdate(cutoverUpdate, { args: [{ pauseBudgetMs: 250 }] });
    expect(refused).toMatchObject({
      done: false,
      writePauseMs: 250,
      reason: expect.stringContaining('did not reach zero'),
    });
    expect((await handle.query(progressQuery)).migration?.phase).toBe('streaming');
    expect((await handle.executeUpdate(cutoverUpdate, { args: [{}] })).done).toBe(true);
    await handle.result();
  });
});

test('differences found at the cutover: the update and the run fail with DataVerifyFailed, nothing is paused', async () => {
  const { mocks, calls } = liveMocks({ differences: 3 });
  await started(mocks, async (handle) => {
    await waitFor('streaming', async () =>
      (await handle.query(progressQuery)).migration?.sync?.[0]?.phase === 'streaming' ? true : undefined,
    );
    await expect(handle.executeUpdate(cutoverUpdate, { args: [{}] })).rejects.toMatchObject({
      cause: { message: expect.stringContaining('the cutover found 3 key(s) that differ') },
    });
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => rootApplicationFailure(err),
    );
    expect(failure?.type).toBe(ErrorType.DataVerifyFailed);
  });
  expect(calls).not.toContain('pauseAndDrain');
});

test('a source that failed over shows in the progress; writesStopped reaches the drain; the report says what was held and shown', async () => {
  const { mocks } = liveMocks();
  let writesStopped: boolean | undefined;
  const chunk = mocks.syncShardChunk;
  const overrides = {
    ...mocks,
    syncShardChunk: async (): Promise<SyncChunkResult> => ({
      ...(await chunk()),
      streamedFrom: '10.0.0.5:6379',
      writesGoTo: '10.0.0.6:6379',
    }),
    pauseAndDrain: async (_spec: unknown, _live: unknown, _budget: number, stopped?: boolean): Promise<DrainResult> => {
      writesStopped = stopped;
      await mocks.pauseAndDrain();
      return { reached: true, pausedMs: 0, paused: [], offsets: [], guarantee: 'shown: every offset applied' };
    },
  };
  await started(overrides, async (handle) => {
    const entry = await waitFor('the failover in the progress', async () => {
      const sync = (await handle.query(progressQuery)).migration?.sync?.[0];
      return sync?.phase === 'streaming' && sync.writesGoTo ? sync : undefined;
    });
    expect(entry.streamedFrom).toBe('10.0.0.5:6379');
    expect(entry.warning).toContain('10.0.0.6:6379 takes the writes');
    await expect(
      handle.executeUpdate(cutoverUpdate, { args: [{ writesStopped: 'yes' as unknown as boolean }] }),
    ).rejects.toMatchObject({ cause: { message: expect.stringContaining('writesStopped must be true or false') } });
    const report = await handle.executeUpdate(cutoverUpdate, { args: [{ writesStopped: true }] });
    expect(report).toMatchObject({ done: true, writePauseMs: 0, paused: [], guarantee: 'shown: every offset applied' });
    await handle.result();
  });
  expect(writesStopped).toBe(true);
});
