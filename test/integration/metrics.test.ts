/**
 * Metrics and logs of a real worker process: a provisioning with a throttled copy of 24,000 keys, the worker's
 * Prometheus endpoint scraped while it runs (our counters move, the SDK's own metrics are there), and its logs as
 * JSON lines.
 */
import { RedisClusterClient } from '../../src/client';
import { freePort } from '../../src/host/processes';
import type { ClusterSpec } from '../../src/model';
import { stopTestServers } from '../helpers/servers';
import { type Stack, seedTopology, startPlainSource, startStack } from '../helpers/stack';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

let stack: Stack;
let client: RedisClusterClient;
let worker: WorkerProcess;

beforeAll(async () => {
  stack = await startStack('metrics');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
});

afterAll(async () => {
  if (worker) await killWorker(worker);
  await client?.close();
  await stopTestServers();
  await stack?.stop();
});

/** Sum of a metric's samples (every tag set) in a Prometheus text page. */
function sum(page: string, name: string): number {
  return page
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

test('the worker serves the SDK metrics and ours, moving during a copy; its logs are JSON lines', async () => {
  const port = await freePort();
  worker = startWorkerProcess(stack.temporal.address, {
    RCO_METRICS_ADDRESS: `127.0.0.1:${port}`,
    RCO_LOG_FORMAT: 'json',
  });
  await worker.ready;
  const source = await startPlainSource(stack, 'metrics-source');
  const keys = 24_000;
  for (let i = 0; i < keys; i += 1000)
    await source.mset(Object.fromEntries(Array.from({ length: 1000 }, (_, j) => [`k:${i + j}`, `v${i + j}`])));
  const seed = await seedTopology(stack, 'metrics');
  const spec: ClusterSpec = {
    ...seed,
    migration: {
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
      keysPerSecond: 2000, // about 12 s: the copy's chunks end every 5 s
    } as ClusterSpec['migration'],
  };
  source.disconnect();

  const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  await client.provision(spec);
  const copied: number[] = [];
  let status = 'RUNNING';
  const deadline = Date.now() + 120_000;
  while (status === 'RUNNING' && Date.now() < deadline) {
    copied.push(sum(await scrape(), 'rco_keys_copied'));
    status = await client.status(spec.name);
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(status).toBe('COMPLETED');
  const page = await scrape();
  // Ours: keys copied moved while the copy ran and ended at every key; step durations; the cluster's state.
  const moving = new Set(copied.filter((n) => n > 0 && n < keys));
  expect(moving.size).toBeGreaterThanOrEqual(2);
  expect(sum(page, 'rco_keys_copied')).toBe(keys);
  expect(page).toMatch(/rco_activity_duration_count\{[^}]*activity="assignSlots"[^}]*\} 1/);
  expect(page).toMatch(/rco_cluster_state_ok\{[^}]*cluster="metrics"[^}]*\} 1/);
  expect(page).toMatch(/rco_verify_differences\{[^}]*\} 0/);
  // The SDK's own, among them those the example dashboard charts.
  expect(page).toMatch(/^temporal_activity_execution_latency/m);
  expect(page).toMatch(/^temporal_worker_task_slots_available/m);
  expect(page).toMatch(/^temporal_activity_schedule_to_start_latency_bucket/m);

  const lines = worker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'));
  const finished = lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((e) => e.message === 'assignSlots finished');
  expect(finished).toMatchObject({ level: 'INFO', activityType: 'assignSlots', workflowId: 'redis-cluster-metrics' });
  expect(typeof finished!.time).toBe('string');
});
