/**
 * bench:migrate. One freshly provisioned cluster of the seed shape, measured in one run:
 * - its own write ceiling: `redis-benchmark --cluster -t set -P 64` on it;
 * - its restore ceiling: the dataset's own DUMP payloads RESTOREd by the leanest loader (phases/restore-ceiling.ts);
 * - a snapshot copy (migrateRedisData, mode "snapshot") of a mixed dataset, keys/s and ratio to the ceiling, and
 *   `redis-cli --cluster import` of the same dataset;
 * - live mode's initial load of the same dataset (the RDB parsed and RESTOREd into all owners), and the other way of
 *   loading it (spooled to disk with `redis-cli --rdb`, loaded by a temporary redis-server, copied by our snapshot
 *   copy), keys/s and ratios;
 * - the live stream applied under a steady write load (redis-benchmark on the source), commands/s;
 * - the cutover's write pause under a 2,000 ops/s load;
 * - verify of every key, keys/s;
 * - the notifications method (bench/phases/notifications.ts): its first pass, and the same burst of writes followed by
 *   keyspace notifications, commands/s against the PSYNC stream's, and the keys copied again;
 * - big keys: a hash of 1,000,000 fields (BENCH_BIG_KEY_FIELDS) loaded live and verified, fields/s, and redis-cli's
 *   import of it side by side;
 * - the worker's peak RSS (VmHWM), the worker run as the Dockerfile runs it (node lib/worker.js, heap cap).
 * BENCH_MIGRATE_ONLY=snapshot stops after the snapshot copy, BENCH_MIGRATE_ONLY=live after it and the live initial load;
 * BENCH_COPY_MODE=dump-restore sends the snapshot copy through the worker.
 * The target is emptied between phases (it is this benchmark's own cluster). Last line: ratio_vs_write_ceiling=
 * <live initial load / ceiling>.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { RedisClusterClient, migrationWorkflowId } from '../src/client';
import { withSpecAccess } from '../src/cluster/access';
import { PROJECT_ROOT, toolPath } from '../src/host/tools';
import { readSyncOffsets } from '../src/migration/sync/cutover';
import { verifyShardKeys } from '../src/migration/verify';
import { type ClusterSpec, type ClusterSpecInput, type MigrationSpecInput, parseClusterSpec } from '../src/model';
import { WORKER_HEAP_FLAG } from '../src/settings';
import { startTestRedis, stopTestServers } from '../test/helpers/servers';
import { freePortBlock, seedTopology, startPlainSource, startStack } from '../test/helpers/stack';
import { fillBigHash } from '../src/local/sample-data';
import { killWorker, startWorkerProcess } from '../test/helpers/worker-process';
import { everyTypeMix, startWriteLoad } from '../test/helpers/write-load';
import { notificationsPhase } from './phases/notifications';
import { firstShardProgress, untilStreaming } from './phases/progress';
import { readPayloads, restoreCeiling } from './phases/restore-ceiling';
import { CpuMeter, type CpuReading, inGroup, serversOn } from './phases/cpu';

const KEYS = Number(process.env.BENCH_KEYS ?? 300_000);
const BIG_HASH_FIELDS = Number(process.env.BENCH_BIG_HASH ?? 300_000);
const APPLY_COMMANDS = Number(process.env.BENCH_APPLY_COMMANDS ?? 100_000); // per redis-benchmark test (4 tests)
const BIG_KEY_FIELDS = Number(process.env.BENCH_BIG_KEY_FIELDS ?? 1_000_000);
// The snapshot copy's path: MIGRATE from the source where it can (auto), or through the worker (dump-restore).
const COPY_MODE = (process.env.BENCH_COPY_MODE ?? 'auto') as 'auto' | 'migrate' | 'dump-restore';
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? WORKER_HEAP_FLAG).split(' ').filter(Boolean);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const line = (name: string, value: string | number) => console.log(`${name}=${value}`);

/** 70% strings of 20-600 bytes, the rest hashes, lists, sets, sorted sets; 15% with an expiry. */
async function fillMixed(client: Redis, count: number): Promise<void> {
  for (let start = 0; start < count; start += 5000) {
    const p = client.pipeline();
    for (let i = start; i < Math.min(start + 5000, count); i++) {
      const key = `bench:${i}`;
      const kind = i % 20;
      if (kind < 14) p.set(key, 'x'.repeat(20 + ((i * 37) % 581)));
      else if (kind < 16) p.hset(key, 'a', String(i), 'b', 'y'.repeat(50), 'c', 'z');
      else if (kind < 18) p.rpush(key, 'one', 'two', 'three', String(i));
      else if (kind < 19) p.sadd(key, 'm1', 'm2', String(i));
      else p.zadd(key, 1, 'a', 2, 'b', i, 'c');
      if (i % 20 < 3) p.pexpire(key, 3_600_000);
    }
    await p.exec();
  }
  for (let start = 0; start < BIG_HASH_FIELDS; start += 10_000) {
    const args: string[] = [];
    for (let i = start; i < Math.min(start + 10_000, BIG_HASH_FIELDS); i++) args.push(`field:${i}`, `value:${i}`);
    await client.hset('bench:big-hash', ...args);
  }
}

function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

function run(tool: string, args: string[]): string {
  const result = spawnSync(toolPath(tool), args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')}: ${result.stderr || result.stdout}`);
  return result.stdout;
}

/**
 * Empties this benchmark's own cluster between phases, and compacts every node's AOF (waiting for the rewrites), so
 * that each phase starts from the same state: no AOF rewrite of an earlier phase's data forks in the middle of it.
 */
async function flushTarget(spec: ClusterSpec): Promise<void> {
  const m1 = spec.nodes[0]!;
  run('redis-cli', ['--cluster', 'call', `${m1.host}:${m1.port}`, 'FLUSHALL']);
  run('redis-cli', ['--cluster', 'call', `${m1.host}:${m1.port}`, 'BGREWRITEAOF']);
  for (const node of spec.nodes)
    for (;;) {
      const info = run('redis-cli', ['-h', node.host, '-p', String(node.port), 'INFO', 'persistence']);
      if (/aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info)) break;
      await sleep(100);
    }
}

async function main(): Promise<void> {
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
  let runs = 0;
  try {
    const target = await seedTopology(stack, 'bench');
    await client.provision(target);
    await client.result(target.name);
    const m1 = target.nodes[0]!;

    // The cluster's own write ceiling.
    const benchmark = run('redis-benchmark', [
      '--cluster',
      '-h',
      m1.host,
      '-p',
      String(m1.port),
      '-t',
      'set',
      '-P',
      '64',
      '-n',
      '1000000',
      '-r',
      '100000',
      '-q',
    ]);
    const ceiling = Number(/SET: ([\d.]+) requests per second/.exec(benchmark)?.[1]);
    line('write_ceiling_ops_per_s', Math.round(ceiling));
    await flushTarget(target);

    const port = await freePortBlock(1);
    await startTestRedis(port, path.join(stack.stateDir, 'source'), [
      '--cluster-enabled',
      'no',
      '--repl-backlog-size',
      '256mb',
    ]);
    const source = new Redis({ host: '127.0.0.1', port });
    await fillMixed(source, KEYS);
    const total = await source.dbsize();
    console.log(
      `dataset: ${total} keys (${KEYS} mixed, 15% with an expiry, and one hash of ${BIG_HASH_FIELDS} fields)`,
    );

    // Who spends the cores in a phase: the target's nodes (masters and replicas), the source, the worker; less idle.
    const cpu = new CpuMeter({
      targets: serversOn(target.nodes.map((n) => n.port)),
      source: serversOn([port]),
      worker: inGroup(worker.child.pid!),
    });
    await cpu.measureIdle();
    const cpuFigures = (phase: string, from: CpuReading<'targets' | 'source' | 'worker'>, keys: number) => {
      const spent = cpu.since(from);
      const per100k = (who: keyof typeof spent) => ((spent[who] / keys) * 100_000).toFixed(2);
      line(`${phase}_cpu_s_per_100k_keys_targets`, per100k('targets'));
      if (phase !== 'restore_ceiling') {
        line(`${phase}_cpu_s_per_100k_keys_source`, per100k('source'));
        line(`${phase}_cpu_s_per_100k_keys_worker`, per100k('worker'));
      }
    };

    // The restore ceiling: the same keys as DUMP payloads, RESTOREd by the leanest loader (phases/restore-ceiling.ts).
    const payloads = await readPayloads(source);
    const ceilingCpu = cpu.read();
    const restoreRate = await restoreCeiling(target, payloads);
    line('restore_ceiling_keys_per_s', Math.round(restoreRate));
    cpuFigures('restore_ceiling', ceilingCpu, total);
    await flushTarget(target);

    const migrate = async (name: string, migration: MigrationSpecInput) => {
      const spec = parseClusterSpec({ ...target, name, migration } as ClusterSpecInput);
      const handle = await client.migrate(spec);
      return Object.assign(spec, { firstRunId: handle.firstExecutionRunId });
    };
    const stepSeconds = (steps: { name: string; durationMs?: number }[], step: string) =>
      (steps.find((s) => s.name === step)?.durationMs ?? 0) / 1000;

    // Snapshot mode.
    const snapCpu = cpu.read();
    const snap = await migrate(`bench-snap-${++runs}`, {
      source: { type: 'standalone', host: '127.0.0.1', port },
      copyMode: COPY_MODE,
    });
    const snapResult = await client.migrationResult(snap.name);
    const snapSeconds = stepSeconds(snapResult.steps, 'migrateData');
    line('snapshot_copy_keys_per_s', Math.round(total / snapSeconds));
    line('snapshot_copy_ratio_vs_write_ceiling', (total / snapSeconds / ceiling).toFixed(2));
    cpuFigures('snapshot_copy', snapCpu, total); // the run's: its copy, and a verify of a 1,000-key sample
    await flushTarget(target);
    const only = process.env.BENCH_MIGRATE_ONLY;
    if (only) line('snapshot_ratio_vs_restore_ceiling', (total / snapSeconds / restoreRate).toFixed(2));
    if (only === 'snapshot') {
      // While working on the snapshot copy: its figures alone, in a minute or two.
      source.disconnect();
      return;
    }

    // The baseline of earlier runs: redis-cli's own import, into the same cluster; and the spooled way of loading.
    const importAndSpool = async () => {
      const importStarted = performance.now();
      run('redis-cli', [
        '--cluster',
        'import',
        `${m1.host}:${m1.port}`,
        '--cluster-from',
        `127.0.0.1:${port}`,
        '--cluster-copy',
        '--cluster-replace',
      ]);
      const importRate = total / ((performance.now() - importStarted) / 1000);
      line('redis_cli_import_keys_per_s', Math.round(importRate));
      line('snapshot_copy_ratio_vs_redis_cli_import', (total / snapSeconds / importRate).toFixed(1));
      await flushTarget(target);

      // The other way to load a snapshot: spooled to disk, a temporary redis-server, our snapshot copy.
      const spoolStarted = performance.now();
      const rdbFile = path.join(stack.stateDir, 'spool', 'dump.rdb');
      spawnSync('mkdir', ['-p', path.dirname(rdbFile)]);
      run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--rdb', rdbFile]);
      const spoolPort = await freePortBlock(1);
      await startTestRedis(spoolPort, path.dirname(rdbFile), ['--cluster-enabled', 'no', '--dbfilename', 'dump.rdb']);
      const spool = await migrate(`bench-spool-${++runs}`, {
        source: { type: 'standalone', host: '127.0.0.1', port: spoolPort },
      });
      const spoolResult = await client.migrationResult(spool.name);
      const spoolSeconds = (performance.now() - spoolStarted) / 1000 - stepSeconds(spoolResult.steps, 'verifyData');
      line('live_initial_load_spooled_keys_per_s', Math.round(total / spoolSeconds));
      await flushTarget(target);
    };
    if (only !== 'live') await importAndSpool();

    // Live mode: the initial load.
    const liveCpu = cpu.read();
    const live = await migrate(`bench-live-${++runs}`, {
      mode: 'live',
      source: { type: 'standalone', host: '127.0.0.1', port },
    });
    const id = migrationWorkflowId(live.name);
    const progress = firstShardProgress(client, live.name);
    const shard = await untilStreaming(progress);
    const loadRate = shard.snapshotKeys! / shard.snapshotSeconds!;
    console.log(
      `live initial load: ${shard.snapshotKeys} keys in ${shard.snapshotSeconds!.toFixed(2)} s, after the source waited ${shard.snapshotWaitSeconds!.toFixed(1)} s to send (repl-diskless-sync-delay)`,
    );
    line('live_initial_load_keys_per_s', Math.round(loadRate));
    line('live_initial_load_ratio_vs_write_ceiling', (loadRate / ceiling).toFixed(2));
    cpuFigures('live_initial_load', liveCpu, total); // from the run's start until it streams
    if (only === 'live') {
      // While working on the live load: the snapshot copy and the live load alone, in two minutes or so.
      line('ratio_vs_restore_ceiling', (loadRate / restoreRate).toFixed(2));
      await client.cancel(id);
      source.disconnect();
      return;
    }

    // The stream under a steady load far above what it applies: how fast it catches up.
    const syncId = `${id}:${live.firstRunId}`;
    const liveShards = [{ id: `127.0.0.1:${port}`, host: '127.0.0.1', port }];
    const offsets = () => withSpecAccess(live, () => readSyncOffsets(live, liveShards, syncId));
    const burst = () => {
      run('redis-benchmark', [
        ...['-h', '127.0.0.1', '-p', String(port), '-t', 'set,incr,lpush,hset'],
        ...['-n', String(APPLY_COMMANDS), '-r', '200000', '-P', '16', '-q'],
      ]);
      return 4 * APPLY_COMMANDS;
    };
    const applyStarted = performance.now();
    const issued = burst();
    const loadSeconds = (performance.now() - applyStarted) / 1000;
    for (;;) {
      const [o] = await offsets();
      if (o && o.applied !== undefined && o.applied >= o.source) break;
      await sleep(50);
    }
    const applySeconds = (performance.now() - applyStarted) / 1000;
    console.log(
      `stream: ${issued} commands written in ${loadSeconds.toFixed(1)} s, applied by ${applySeconds.toFixed(1)} s`,
    );
    line('live_apply_ops_per_s', Math.round(issued / applySeconds));

    // The cutover under a 2,000 ops/s load.
    const loadClient = source.duplicate();
    const load = startWriteLoad(loadClient, {
      opsPerSecond: 2000,
      maxSeconds: 60,
      mix: everyTypeMix('cut:', 2000, { db1: false }),
    });
    await sleep(3000);
    const report = await client.cutover(live.name, { pauseBudgetMs: 1000, verify: 'sample' });
    await load.stop();
    loadClient.disconnect();
    if (!report.done) throw new Error(`the cutover did not happen: ${report.reason}`);
    line('cutover_pause_ms', report.writePauseMs);

    // Verify of every key (the source has stopped changing).
    const verifyStarted = performance.now();
    const verified = await withSpecAccess(live, () =>
      verifyShardKeys({
        spec: live,
        shard: { id: `127.0.0.1:${port}/db0`, host: '127.0.0.1', port, db: 0, prefix: '', keys: total },
        all: true,
      }),
    );
    const verifySeconds = (performance.now() - verifyStarted) / 1000;
    console.log(
      `verify: ${verified.checked} keys in ${verifySeconds.toFixed(1)} s, ${verified.differencesFound} differences (the load's writes after the cutover stay in the source)`,
    );
    line('verify_all_keys_per_s', Math.round(verified.checked / verifySeconds));

    // The same burst followed by keyspace notifications instead of replication (sources without PSYNC).
    await flushTarget(target);
    const notified = await notificationsPhase({ client, source, port, migrate, burst, line });
    line('notifications_apply_ratio_vs_psync', (notified.applyOpsPerSecond / (issued / applySeconds)).toFixed(2));

    // Big keys: one hash of BIG_KEY_FIELDS fields, loaded live (built in pieces under a temporary key), verified
    // piece by piece, and redis-cli's import of the same hash (one MIGRATE of the whole value) side by side.
    await flushTarget(target);
    const bigSource = await startPlainSource(stack, 'big-source', ['--repl-diskless-sync-delay', '0']);
    const bigPort = bigSource.options.port!;
    await fillBigHash(bigSource, 'big:hash', BIG_KEY_FIELDS);
    const bigLive = await migrate(`bench-big-${++runs}`, {
      mode: 'live',
      source: { type: 'standalone', host: '127.0.0.1', port: bigPort },
    });
    const bigId = migrationWorkflowId(bigLive.name);
    let bigShard = (await client.progress(bigId)).migration?.sync?.[0];
    while (bigShard?.phase !== 'streaming') {
      await sleep(200);
      bigShard = (await client.progress(bigId)).migration?.sync?.[0];
    }
    const bigLoadRate = BIG_KEY_FIELDS / bigShard.snapshotSeconds!;
    console.log(`big key: a hash of ${BIG_KEY_FIELDS} fields loaded live in ${bigShard.snapshotSeconds!.toFixed(1)} s`);
    line('big_key_live_load_fields_per_s', Math.round(bigLoadRate));
    const bigVerifyStarted = performance.now();
    const bigVerified = await withSpecAccess(bigLive, () =>
      verifyShardKeys({
        spec: bigLive,
        shard: { id: `127.0.0.1:${bigPort}/db0`, host: '127.0.0.1', port: bigPort, db: 0, prefix: '', keys: 1 },
        all: true,
      }),
    );
    const bigVerifySeconds = (performance.now() - bigVerifyStarted) / 1000;
    if (bigVerified.differencesFound > 0) throw new Error(`big key verify: ${JSON.stringify(bigVerified.differences)}`);
    line('big_key_verify_fields_per_s', Math.round(BIG_KEY_FIELDS / bigVerifySeconds));
    await client.cancel(bigId);
    await flushTarget(target);
    const bigImportStarted = performance.now();
    const bigImport = spawnSync(
      toolPath('redis-cli'),
      ['--cluster', 'import', `${m1.host}:${m1.port}`, '--cluster-from', `127.0.0.1:${bigPort}`, '--cluster-copy'],
      { encoding: 'utf8', timeout: 300_000 },
    );
    const bigImportSeconds = (performance.now() - bigImportStarted) / 1000;
    if (bigImport.status === 0) {
      line('big_key_redis_cli_import_fields_per_s', Math.round(BIG_KEY_FIELDS / bigImportSeconds));
      line(
        'big_key_live_load_ratio_vs_redis_cli_import',
        (bigLoadRate / (BIG_KEY_FIELDS / bigImportSeconds)).toFixed(1),
      );
    } else
      console.log(
        `big key: redis-cli --cluster import failed after ${bigImportSeconds.toFixed(0)} s: ${(bigImport.stdout + bigImport.stderr).trim().split('\n').pop()}`,
      );
    bigSource.disconnect();

    line('worker_peak_rss_mb', Math.round(peakRssMb(worker.child.pid!)));
    line('snapshot_ratio_vs_restore_ceiling', (total / snapSeconds / restoreRate).toFixed(2));
    line('ratio_vs_restore_ceiling', (loadRate / restoreRate).toFixed(2));
    line('ratio_vs_write_ceiling', (loadRate / ceiling).toFixed(2));
    source.disconnect();
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
