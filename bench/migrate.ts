/**
 * bench:migrate — one dataset (200,000 keys of mixed types and sizes, 10% with TTL) copied into two freshly
 * provisioned clusters of the same shape: by our workflow (migrateRedisData, real worker process) and by
 * `redis-cli --cluster import --cluster-copy --cluster-replace`. Prints keys/s for both, our worker's peak RSS
 * (VmHWM) after a further 1,000,000-key migration, and last ratio_vs_redis_cli_import=<ours/theirs>.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { RedisClusterClient, migrationWorkflowId } from '../src/client';
import { PROJECT_ROOT, toolPath } from '../src/host/tools';
import { WORKER_HEAP_FLAG } from '../src/settings';
import { type ClusterSpec } from '../src/model';
import { startTestRedis, stopTestServers } from '../test/helpers/servers';
import { freePortBlock, seedTopology, startStack } from '../test/helpers/stack';
import { killWorker, startWorkerProcess } from '../test/helpers/worker-process';

const KEYS = Number(process.env.BENCH_KEYS ?? 200_000);
const RSS_KEYS = Number(process.env.BENCH_RSS_KEYS ?? 1_000_000);
/** Node flags of the worker process (BENCH_NODE_FLAGS, space separated); by default those the Dockerfile uses. */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? WORKER_HEAP_FLAG).split(' ').filter(Boolean);

async function fillMixed(client: Redis, count: number, prefix: string): Promise<void> {
  for (let start = 0; start < count; start += 5000) {
    const p = client.pipeline();
    for (let i = start; i < Math.min(start + 5000, count); i++) {
      const key = `${prefix}:${i}`;
      const kind = i % 20;
      if (kind < 14) p.set(key, 'x'.repeat(10 + ((i * 37) % 990)));
      else if (kind < 16) p.hset(key, 'a', String(i), 'b', 'y'.repeat(50), 'c', 'z');
      else if (kind < 18) p.rpush(key, 'one', 'two', 'three', String(i));
      else if (kind < 19) p.sadd(key, 'm1', 'm2', String(i));
      else p.zadd(key, 1, 'a', 2, 'b', i, 'c');
      if (i % 10 === 0) p.pexpire(key, 3_600_000);
    }
    await p.exec();
  }
}

/** Peak resident memory of the worker process (node lib/worker.js, started directly). */
function workerPeakRssMb(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return kb / 1024;
}

async function main(): Promise<void> {
  // The worker as the Dockerfile runs it: compiled JavaScript under node with the workflow code bundled at build
  // time, so that the RSS figure is the copy's, not webpack's or tsx's.
  const build = spawnSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  const stack = await startStack('bench-migrate');
  const worker = startWorkerProcess(
    stack.temporal.address,
    { RCO_WORKFLOW_BUNDLE: path.join(PROJECT_ROOT, 'lib', 'workflow-bundle.js') },
    { entry: path.join(PROJECT_ROOT, 'lib', 'worker.js'), nodeFlags: NODE_FLAGS },
  );
  await worker.ready;
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  try {
    // One after the other: both topologies read their configs from the same S3 keys.
    const provision = async (name: string) => {
      const spec = await seedTopology(stack, name);
      await client.provision(spec);
      await client.result(spec.name);
      return spec;
    };
    const ours = await provision('ours');
    const theirs = await provision('theirs');
    const port = await freePortBlock(1);
    await startTestRedis(port, path.join(stack.stateDir, 'source'), ['--cluster-enabled', 'no']);
    const source = new Redis({ host: '127.0.0.1', port });
    await fillMixed(source, KEYS, 'bench');
    console.log(`dataset: ${await source.dbsize()} keys on 127.0.0.1:${port}`);

    const migrateInto = async (spec: ClusterSpec, sourcePort: number) => {
      const started = performance.now();
      await client.migrate({
        ...spec,
        migration: {
          source: { type: 'standalone', host: '127.0.0.1', port: sourcePort },
          copyMode: (process.env.BENCH_COPY_MODE as 'auto' | 'dump-restore' | undefined) ?? 'auto',
          ...(process.env.BENCH_BATCH ? { batchSize: Number(process.env.BENCH_BATCH) } : {}),
        },
      });
      const result = await client.result(migrationWorkflowId(spec.name));
      const total = (performance.now() - started) / 1000;
      const copySeconds = (result.steps.find((s) => s.name === 'migrateData')!.durationMs ?? 0) / 1000;
      return { total, copySeconds, result };
    };
    const mine = await migrateInto(ours, port);
    const oursRate = KEYS / mine.copySeconds;
    console.log(
      `ours: copy ${mine.copySeconds.toFixed(2)} s (${Math.round(oursRate)} keys/s), with verify ${mine.total.toFixed(2)} s, unequal ${mine.result.migration?.unequal.length}`,
    );

    console.log(`worker peak RSS (VmHWM) so far: ${workerPeakRssMb(worker.child.pid!).toFixed(0)} MB`);
    const m1 = theirs.nodes[0]!;
    const started = performance.now();
    const run = spawnSync(
      toolPath('redis-cli'),
      [
        '--cluster',
        'import',
        `${m1.host}:${m1.port}`,
        '--cluster-from',
        `127.0.0.1:${port}`,
        '--cluster-copy',
        '--cluster-replace',
      ],
      { encoding: 'utf8', maxBuffer: 1 << 30 },
    );
    const theirSeconds = (performance.now() - started) / 1000;
    if (run.status !== 0) throw new Error(`redis-cli --cluster import failed: ${run.stderr || run.stdout.slice(-500)}`);
    const theirsRate = KEYS / theirSeconds;
    console.log(
      `redis-cli --cluster import --cluster-copy --cluster-replace: ${theirSeconds.toFixed(2)} s (${Math.round(theirsRate)} keys/s)`,
    );

    if (RSS_KEYS > 0) {
      const bigPort = await freePortBlock(1);
      await startTestRedis(bigPort, path.join(stack.stateDir, 'source-big'), ['--cluster-enabled', 'no']);
      const big = new Redis({ host: '127.0.0.1', port: bigPort });
      await fillMixed(big, RSS_KEYS, 'rss');
      const run2 = await migrateInto({ ...ours, name: 'ours-rss' }, bigPort);
      console.log(
        `ours, ${RSS_KEYS} keys: copy ${run2.copySeconds.toFixed(2)} s (${Math.round(RSS_KEYS / run2.copySeconds)} keys/s)`,
      );
      big.disconnect();
    }
    console.log(`worker peak RSS (VmHWM): ${workerPeakRssMb(worker.child.pid!).toFixed(0)} MB`);
    source.disconnect();
    console.log(`ratio_vs_redis_cli_import=${(oursRate / theirsRate).toFixed(1)}`);
  } finally {
    await client.close();
    await killWorker(worker);
    await stopTestServers();
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
