/**
 * A 300,000-key migration run by a real worker process: the throttle is changed and the copy paused and resumed
 * while it runs (seen through the progress query), then the worker is SIGKILLed mid-copy and a new worker
 * finishes the same run. Every key must be equal, and the keys copied twice at most one batch.
 */
import Redis from 'ioredis';
import path from 'node:path';
import { RedisClusterClient, migrationWorkflowId } from '../../src/client';
import { SlotMap } from '../../src/redis/slot-map';
import { adminAddress, masters } from '../../src/model';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { type Stack, freePortBlock, seedTopology, startStack } from '../helpers/stack';
import { restoresOnTarget } from '../helpers/target-stats';
import { sleep, waitFor } from '../helpers/wait';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

const KEYS = 300_000;
const BATCH = 500;

let stack: Stack;
let client: RedisClusterClient;
let source: Redis | undefined;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  stack = await startStack('migrate-kill');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
});

afterAll(async () => {
  await Promise.all(workers.map(killWorker));
  source?.disconnect();
  await client?.close();
  await stopTestServers();
  await stack?.stop();
});

async function worker(): Promise<WorkerProcess> {
  const w = startWorkerProcess(stack.temporal.address);
  workers.push(w);
  await w.ready;
  return w;
}

test('throttle, pause and resume while it runs; SIGKILL mid-copy; every key equal, at most one batch twice', async () => {
  let current = await worker();
  const spec = await seedTopology(stack, 'ctl');
  await client.provision(spec);
  await client.result(spec.name);

  const port = await freePortBlock(1);
  await startTestRedis(port, path.join(stack.stateDir, `source-${port}`), ['--cluster-enabled', 'no']);
  source = new Redis({ host: '127.0.0.1', port });
  for (let start = 0; start < KEYS; start += 10_000) {
    const pipeline = source.pipeline();
    for (let i = start; i < start + 10_000; i++)
      if (i % 10 === 0) pipeline.set(`key:${i}`, `value-${i}`, 'PX', 3_600_000);
      else pipeline.set(`key:${i}`, `value-${i}`);
    await pipeline.exec();
  }
  const restoresBefore = await restoresOnTarget(spec);

  const migrating = {
    ...spec,
    migration: {
      source: { type: 'standalone' as const, host: '127.0.0.1', port },
      batchSize: BATCH,
      keysPerSecond: 10_000,
    },
  };
  const handle = await client.migrate(migrating);
  const id = migrationWorkflowId(spec.name);

  // Throttle: changed while running, visible in progress.
  await waitFor(
    'copying to start',
    async () => ((await client.progress(id)).migration?.shards[0]?.scanned ?? 0) > 0 || undefined,
  );
  expect(await client.throttle(id, 12_000)).toBe(12_000);
  expect((await client.progress(id)).migration?.keysPerSecond).toBe(12_000);
  await expect(client.throttle(id, -1)).rejects.toThrow();

  // Pause: within a chunk (5 s) the counters stop; resume: they move again.
  await client.pause(id);
  await sleep(6000);
  const pausedAt = (await client.progress(id)).migration!.shards[0]!.scanned;
  await sleep(2000);
  expect((await client.progress(id)).migration!.shards[0]!.scanned).toBe(pausedAt);
  expect(pausedAt).toBeLessThan(KEYS);
  await client.resume(id);
  await waitFor('copying to go on', async () =>
    (await client.progress(id)).migration!.shards[0]!.scanned > pausedAt ? true : undefined,
  );

  // Kill the worker while a copy chunk is running on it, past a third of the keys.
  await waitFor('a third of the keys', async () => {
    const { raw } = await handle.describe();
    const chunk = (raw.pendingActivities ?? []).find(
      (a) => a.activityType?.name === 'copyShardChunk' && String(a.state) !== '1',
    );
    const scanned = (await client.progress(id)).migration!.shards[0]!.scanned;
    return chunk && scanned > KEYS / 3 ? true : undefined;
  });
  await killWorker(current);
  current = await worker();
  await client.throttle(id, null);
  const result = await client.result(id);
  expect(result.migration!.unequal).toEqual([]);
  expect((await handle.describe()).status.name).toBe('COMPLETED');
  const history = await handle.fetchHistory();
  const chunkAttempts = (history.events ?? [])
    .map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0)
    .filter((attempt) => attempt > 0);
  expect(Math.max(...chunkAttempts)).toBeGreaterThan(1); // the killed chunk ran again on the new worker

  // Every key equal (value and expiry), compared in pipelines.
  const map = new SlotMap(masters(spec).map(adminAddress));
  await map.refresh();
  let differences = 0;
  for (let start = 0; start < KEYS; start += 5000) {
    const keys = Array.from({ length: 5000 }, (_, i) => `key:${start + i}`);
    const want = (await source!
      .pipeline(
        keys.flatMap((k) => [
          ['get', k],
          ['call', 'PEXPIRETIME', k],
        ]),
      )
      .exec())!;
    for (const [i, key] of keys.entries()) {
      const target = await map.client(map.ownerOf(Buffer.from(key)));
      const [value, expireAt] = await Promise.all([target.get(key), target.call('PEXPIRETIME', key)]);
      if (value !== want[2 * i]![1] || Math.abs(Number(expireAt) - Number(want[2 * i + 1]![1])) > 2000) differences++;
    }
  }
  map.close();
  expect(differences).toBe(0);

  const written = (await restoresOnTarget(spec)) - restoresBefore;
  const copiedTwice = written - KEYS;
  console.log(
    `migration of ${KEYS} keys with a SIGKILL: ${written} keys written, ${copiedTwice} twice (batch ${BATCH})`,
  );
  expect(copiedTwice).toBeGreaterThanOrEqual(0);
  expect(copiedTwice).toBeLessThanOrEqual(BATCH * 1.5); // SCAN COUNT is a hint: a batch can run a little over
});
