/**
 * npm run profile:load. Where the worker's CPU goes while it loads data: the worker (node lib/worker.js, as the
 * Dockerfile runs it) runs under `--cpu-prof`, and copies a standalone source of BENCH_PROFILE_KEYS small strings and
 * hashes plus a hash of BENCH_PROFILE_HASH fields into a cluster of the seed's shape, first live (the RDB parsed and
 * restored), then by snapshot copy. The worker then stops on SIGINT, which writes its profile; this prints the
 * functions with the most self time, each with its share of the samples.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type Redis from 'ioredis';
import { RedisClusterClient, migrationWorkflowId } from '../src/client';
import { PROJECT_ROOT, toolPath } from '../src/host/tools';
import { type ClusterSpec, type ClusterSpecInput, type MigrationSpecInput, parseClusterSpec } from '../src/model';
import { fillBigHash } from '../src/local/sample-data';
import { WORKER_HEAP_FLAG } from '../src/settings';
import { stopTestServers } from '../test/helpers/servers';
import { seedTopology, startPlainSource, startStack } from '../test/helpers/stack';
import { startWorkerProcess } from '../test/helpers/worker-process';

const KEYS = Number(process.env.BENCH_PROFILE_KEYS ?? 300_000);
const HASH_FIELDS = Number(process.env.BENCH_PROFILE_HASH ?? 300_000);
const TOP = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Now on the monotonic clock V8 stamps profile samples with, in microseconds. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Self samples per function (name, file and line), most first. With a `window` (µs): only the samples taken in it, and
 * not the idle ones (a phase is timed from the outside, with the workflow's own waits around the work).
 */
function topFunctions(file: string, window?: [number, number]): { name: string; share: number }[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    startTime: number;
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  let at = profile.startTime;
  const samples = profile.samples.filter((_, i) => {
    at += profile.timeDeltas[i]!;
    return (
      !window ||
      (at >= window[0] && at <= window[1] && byId.get(profile.samples[i]!)!.callFrame.functionName !== '(idle)')
    );
  });
  for (const id of samples) {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url
      ? `${path.relative(PROJECT_ROOT, frame.url.replace('file://', ''))}:${frame.lineNumber + 1}`
      : '';
    const name = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ name, share: n / samples.length }));
}

async function main(): Promise<void> {
  const build = spawnSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  const stack = await startStack('profile-load');
  const profileDir = path.join(stack.stateDir, 'profile');
  const worker = startWorkerProcess(
    stack.temporal.address,
    { RCO_WORKFLOW_BUNDLE: path.join(PROJECT_ROOT, 'lib', 'workflow-bundle.js') },
    {
      entry: path.join(PROJECT_ROOT, 'lib', 'worker.js'),
      nodeFlags: [WORKER_HEAP_FLAG, '--cpu-prof', `--cpu-prof-dir=${profileDir}`],
    },
  );
  await worker.ready;
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  const snapWindow: [number, number] = [0, 0];
  const liveWindow: [number, number] = [0, 0];
  try {
    const target = await seedTopology(stack, 'profile');
    await client.provision(target);
    await client.result(target.name);
    const source: Redis = await startPlainSource(stack, 'profile-source');
    for (let start = 0; start < KEYS; start += 5000) {
      const p = source.pipeline();
      for (let i = start; i < Math.min(start + 5000, KEYS); i++)
        if (i % 5 === 0) p.hset(`p:${i}`, 'a', String(i), 'b', 'y'.repeat(50));
        else p.set(`p:${i}`, 'x'.repeat(20 + ((i * 37) % 281)));
      await p.exec();
    }
    await fillBigHash(source, 'p:big-hash', HASH_FIELDS);
    const port = source.options.port!;
    let runs = 0;
    const migrate = async (migration: MigrationSpecInput): Promise<ClusterSpec> => {
      const spec = parseClusterSpec({ ...target, name: `profile-${++runs}`, migration } as ClusterSpecInput);
      await client.migrate(spec);
      return spec;
    };
    const flush = () => {
      const m1 = target.nodes[0]!;
      spawnSync(toolPath('redis-cli'), ['--cluster', 'call', `${m1.host}:${m1.port}`, 'FLUSHALL']);
    };

    const liveLoad = async () => {
      const started = performance.now();
      liveWindow[0] = monotonicUs();
      const live = await migrate({ mode: 'live', source: { type: 'standalone', host: '127.0.0.1', port } });
      for (;;) {
        const sync = (await client.progress(migrationWorkflowId(live.name))).migration?.sync;
        if (sync?.every((s) => s.phase === 'streaming')) {
          liveWindow[1] = monotonicUs();
          console.log(`live initial load: ${sync.map((s) => `${s.snapshotKeys} keys in ${s.snapshotSeconds} s`)}`);
          break;
        }
        await sleep(200);
      }
      const report = await client.cutover(live.name, { pauseBudgetMs: 1000, verify: 'sample' });
      if (!report.done) throw new Error(`the cutover did not happen: ${report.reason}`);
      console.log(`live load and cutover: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    };
    // BENCH_PROFILE_ONLY=snapshot: the snapshot copy alone.
    if (process.env.BENCH_PROFILE_ONLY !== 'snapshot') await liveLoad();
    flush();
    const snapStarted = performance.now();
    snapWindow[0] = monotonicUs();
    // BENCH_COPY_MODE=dump-restore: the snapshot copy through the worker.
    const copyMode = (process.env.BENCH_COPY_MODE ?? 'auto') as 'auto' | 'migrate' | 'dump-restore';
    const snap = await migrate({ source: { type: 'standalone', host: '127.0.0.1', port }, copyMode });
    await client.migrationResult(snap.name);
    snapWindow[1] = monotonicUs();
    console.log(`snapshot copy and verify: ${((performance.now() - snapStarted) / 1000).toFixed(1)} s`);
    source.disconnect(); // before its server stops: a connection left open retries for ever
  } finally {
    // SIGINT: the worker shuts down and node writes the profile as it exits.
    process.kill(worker.child.pid!, 'SIGINT');
    const deadline = Date.now() + 60_000;
    while (worker.child.exitCode === null && worker.child.signalCode === null && Date.now() < deadline)
      await sleep(200);
    if (worker.child.exitCode === null && worker.child.signalCode === null) process.kill(-worker.child.pid!, 'SIGKILL');
    await client.close();
    await stopTestServers();
  }
  const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error(`no profile written in ${profileDir}`);
  console.log(`top ${TOP} functions by self time (${files[0]}):`);
  for (const { name, share } of topFunctions(path.join(profileDir, files[0]!)).slice(0, TOP))
    console.log(`${(share * 100).toFixed(1).padStart(5)}%  ${name}`);
  for (const [what, window] of [
    ['the live load', liveWindow],
    ['the snapshot copy', snapWindow],
  ] as const) {
    if (window[1] === 0) continue;
    console.log(`top ${TOP} functions while ${what} ran (share of the busy samples):`);
    for (const { name, share } of topFunctions(path.join(profileDir, files[0]!), window).slice(0, TOP))
      console.log(`${(share * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
  await stack.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
