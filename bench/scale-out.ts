/**
 * bench:scale-out. A 4-master Redis Cluster source of BENCH_SCALE_KEYS small keys, loaded live into a cluster of the
 * seed's shape twice: by one worker, then by two workers that take at most 2 shards each (RCO_MAX_SHARDS=2, as
 * `rco worker --max-shards 2`), both run as the Dockerfile runs them (node lib/worker.js). For each: the initial
 * load's keys/s (from the migration's start until the target holds every key), the CPU seconds the workers spent on
 * it, per shard, and which worker loaded which shard. Then the bound the workers' CPU sets for N workers on N machines
 * (worker_bound_keys_per_s_N_machines), and the share of a core the lone worker used: below 1, the worker is not what
 * bounds the load. Last lines: two_workers_ratio_vs_one=<x>, cpu_seconds_per_shard=<s>.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import Redis from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { RedisClusterClient, migrationWorkflowId } from '../src/client';
import { PROJECT_ROOT, toolPath } from '../src/host/tools';
import { type ClusterSpec, type ClusterSpecInput, adminAddress, masters, parseClusterSpec } from '../src/model';
import { WORKER_HEAP_FLAG } from '../src/settings';
import { startPlainCluster } from '../test/helpers/plain-cluster';
import { stopTestServers } from '../test/helpers/servers';
import { seedTopology, startStack } from '../test/helpers/stack';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../test/helpers/worker-process';
import { cpuSeconds, inGroup } from './phases/cpu';

const KEYS = Number(process.env.BENCH_SCALE_KEYS ?? 1_000_000);
const SHARDS = 4;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const line = (name: string, value: string | number) => console.log(`${name}=${value}`);

/** CPU seconds of the worker's process group (tsx or node, and its children). */
const workerCpu = (worker: WorkerProcess) => cpuSeconds(inGroup(worker.child.pid!));

/** Small strings, spread over the source's masters by slot, each master's in pipelines of 5,000. */
async function fill(nodes: Redis[], ports: number[], slotOwner: (slot: number) => number): Promise<void> {
  for (let start = 0; start < KEYS; start += 20_000) {
    const pipelines = nodes.map((n) => n.pipeline());
    for (let i = start; i < Math.min(start + 20_000, KEYS); i++) {
      const key = `scale:${i}`;
      pipelines[slotOwner(calculateSlot(key))]!.set(key, 'v'.repeat(20 + ((i * 37) % 181)));
    }
    await Promise.all(pipelines.map((p) => p.exec()));
  }
  const sizes = await Promise.all(nodes.map((n) => n.dbsize()));
  console.log(`source: ${sizes.reduce((a, b) => a + b, 0)} keys on ${ports.length} masters (${sizes.join(', ')})`);
}

async function targetKeys(nodes: Redis[]): Promise<number> {
  return (await Promise.all(nodes.map((n) => n.dbsize()))).reduce((a, b) => a + b, 0);
}

function flushTarget(spec: ClusterSpec): void {
  const m1 = spec.nodes[0]!;
  const result = spawnSync(toolPath('redis-cli'), ['--cluster', 'call', `${m1.host}:${m1.port}`, 'FLUSHALL']);
  if (result.status !== 0) throw new Error(`FLUSHALL: ${result.stderr}`);
}

async function main(): Promise<void> {
  const build = spawnSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  const stack = await startStack('bench-scale');
  const workers: WorkerProcess[] = [];
  const startWorker = async (env: Record<string, string>) => {
    const worker = startWorkerProcess(
      stack.temporal.address,
      { RCO_WORKFLOW_BUNDLE: path.join(PROJECT_ROOT, 'lib', 'workflow-bundle.js'), ...env },
      { entry: path.join(PROJECT_ROOT, 'lib', 'worker.js'), nodeFlags: [WORKER_HEAP_FLAG] },
    );
    workers.push(worker);
    await worker.ready;
    return worker;
  };
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  // No diskless-sync delay (Redis 7.0 waits 5 s before it sends a snapshot): the figures are the load, not the wait.
  const { ports, nodes } = await startPlainCluster(
    path.join(stack.stateDir, 'source'),
    'redis-server',
    ['--repl-diskless-sync-delay', '0'],
    SHARDS,
  );
  try {
    await startWorker({ RCO_WORKER_NAME: 'one' });
    const target = await seedTopology(stack, 'bench-scale');
    await client.provision(target);
    await client.result(target.name);
    const targetNodes = masters(target).map((node) => new Redis(adminAddress(node)));
    const slotOwner = (slot: number) => Math.min(SHARDS - 1, Math.floor((slot * SHARDS) / 16384));
    await fill(nodes, ports, slotOwner);

    let runs = 0;
    /** One live migration with the workers running: its initial load's keys/s and CPU seconds, then a cutover. */
    const load = async (label: string) => {
      const spec = parseClusterSpec({
        ...target,
        name: `bench-scale-${++runs}`,
        migration: { mode: 'live', source: { type: 'cluster', nodes: [{ host: '127.0.0.1', port: ports[0]! }] } },
      } as ClusterSpecInput);
      const cpuBefore = workers.map(workerCpu);
      const started = performance.now();
      await client.migrate(spec);
      const deadline = Date.now() + 600_000;
      while ((await targetKeys(targetNodes)) < KEYS) {
        if (Date.now() > deadline) throw new Error(`${label}: the target holds too few keys after 10 minutes`);
        await sleep(50);
      }
      const seconds = (performance.now() - started) / 1000;
      const cpu = workers.map((w, i) => workerCpu(w) - cpuBefore[i]!);
      // Every shard streaming: then the progress names the worker of each.
      for (;;) {
        const sync = (await client.progress(migrationWorkflowId(spec.name))).migration?.sync;
        if (sync?.every((s) => s.phase === 'streaming')) {
          const shown = sync.map((s) => `${s.shard} on ${s.worker} (loaded in ${s.snapshotSeconds} s)`);
          console.log(`${label}: ${shown.join(', ')}`);
          break;
        }
        await sleep(200);
      }
      const report = await client.cutover(spec.name, { pauseBudgetMs: 20_000, verify: 'sample' });
      if (!report.done) throw new Error(`${label}: the cutover did not happen: ${report.reason}`);
      flushTarget(target);
      const rate = KEYS / seconds;
      const cpuTotal = cpu.reduce((a, b) => a + b, 0);
      console.log(
        `${label}: ${KEYS} keys loaded in ${seconds.toFixed(1)} s, ${Math.round(rate)} keys/s; worker CPU ${cpu.map((c) => c.toFixed(1)).join(' + ')} s`,
      );
      return { rate, cpuTotal, seconds };
    };

    const one = await load('one worker');
    line('one_worker_initial_load_keys_per_s', Math.round(one.rate));
    await Promise.all(workers.splice(0).map(killWorker));
    await startWorker({ RCO_WORKER_NAME: 'a', RCO_MAX_SHARDS: '2' });
    await startWorker({ RCO_WORKER_NAME: 'b', RCO_MAX_SHARDS: '2' });
    const two = await load('two workers, 2 shards each');
    line('two_workers_initial_load_keys_per_s', Math.round(two.rate));

    const perShard = one.cpuTotal / SHARDS;
    // The share of a core the lone worker used while loading: below 1, something else (here the machine's 2 cores,
    // shared with the source and the target) bounds the load, and more workers on the same machine cannot help.
    line('one_worker_cpu_share', (one.cpuTotal / one.seconds).toFixed(2));
    // The bound the worker sets: N machines each give a core to ceil(shards / N) shards. The cluster's own restore
    // ceiling (bench:migrate) caps it.
    for (const n of [1, 2, 4])
      line(`worker_bound_keys_per_s_${n}_machines`, Math.round(KEYS / (Math.ceil(SHARDS / n) * perShard)));
    console.log(
      `(${perShard.toFixed(2)} CPU s per shard of ${KEYS / SHARDS} keys; this machine has 2 cores for the source, the target and the workers)`,
    );
    line('two_workers_ratio_vs_one', (two.rate / one.rate).toFixed(2));
    line('cpu_seconds_per_shard', perShard.toFixed(2));
    targetNodes.forEach((n) => n.disconnect());
  } finally {
    await Promise.all(workers.map(killWorker));
    nodes.forEach((n) => n.disconnect());
    await client.close();
    await stopTestServers();
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
