import { POLLER_ALIVE_MS, WORKER_PICKUP_BUDGET_MS, shardTaskQueue, workerWait } from '../../src/model';

const now = 1_000_000_000;

test('a task within its budget, or one a worker runs, is no wait', () => {
  expect(workerWait('q', [{ name: 'copy', scheduledAt: now - WORKER_PICKUP_BUDGET_MS + 1 }], [], now)).toBeUndefined();
  expect(workerWait('q', [{ name: 'copy' }], [], now)).toBeUndefined();
});

test('the longest wait is named, with no poller: no worker polls the queue', () => {
  const wait = workerWait(
    'redis-cluster',
    [
      { name: 'copy', scheduledAt: now - 40_000 },
      { name: 'verifyShardKeys', scheduledAt: now - 130_000, attempt: 3 },
    ],
    [now - POLLER_ALIVE_MS - 1],
    now,
  );
  expect(wait).toMatchObject({ task: 'verifyShardKeys', waitedSeconds: 130, pollers: 0 });
  expect(wait!.message).toBe(
    'no worker is polling task queue redis-cluster: verifyShardKeys (attempt 3) has waited 2m 10s for one (start a worker: npm run worker, or rco worker)',
  );
});

test('workers that poll but do not take the task are counted', () => {
  const wait = workerWait('q', [{ name: 'copy', scheduledAt: now - 45_000 }], [now - 1000, now - 2000], now);
  expect(wait!.message).toBe(
    'copy has waited 45s on task queue q, which 2 worker(s) poll: they are busy or cannot run it',
  );
});

test('a shard chunk that waits on the shard queue, which workers poll: their --max-shards slots are taken', () => {
  const wait = workerWait(
    shardTaskQueue('redis-cluster'),
    [{ name: 'syncShardChunk', scheduledAt: now - 45_000 }],
    [now - 1000],
    now,
    { shards: true },
  );
  expect(wait!.message).toBe(
    'syncShardChunk has waited 45s on task queue redis-cluster-shards, which 1 worker(s) poll: they are busy or cannot run it (each runs at most --max-shards shards at once: add a worker, or raise it)',
  );
});
