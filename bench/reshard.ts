/**
 * bench:reshard. One slot move done by us and by `redis-cli --cluster reshard`, side by side on the same data, on
 * Redis 7.0 nodes and on Valkey 9.1 nodes: the seed cluster with BENCH_RESHARD_KEYS small keys (1,000,000) and a hash
 * of BENCH_RESHARD_HASH fields (300,000) in the slots that move. Ours: a re-provision whose spec gives 1,024 of m1's
 * slots (3072-4095) to m2 (the moveSlots step's time and keys; atomic on Valkey 9). Theirs: the same 1,024 slots moved
 * back from m2 to m1 with `redis-cli --cluster reshard` (its defaults, as users run it: the classic protocol). On
 * Valkey 9 also `CLUSTER MIGRATESLOTS` issued by hand, m1 -> m2 again. During each, a cluster client reads and writes
 * (bounded): its errors besides redirects and its slowest request (during an atomic move: the owner's write pause)
 * are printed. Last lines: ratio_vs_redis_cli_reshard (Redis 7.0), valkey9_ratio_vs_redis_cli,
 * valkey9_ratio_vs_migrateslots, client_errors_total.
 */
import { spawn, spawnSync } from 'node:child_process';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import calculateSlot from 'cluster-key-slot';
import IORedis, { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { toolPath } from '../src/host/tools';
import { type ClusterSpec, masters } from '../src/model';
import { fillBigHash } from '../src/local/sample-data';
import { parseSlotMigrations } from '../src/cluster/atomic-moves';
import { startRunningStack } from '../test/helpers/running-stack';
import { seedTopology } from '../test/helpers/stack';
import { startClusterLoad } from './phases/cluster-load';

Runtime.install({ logger: new DefaultLogger('WARN') });

const KEYS = Number(process.env.BENCH_RESHARD_KEYS ?? 1_000_000);
const HASH_FIELDS = Number(process.env.BENCH_RESHARD_HASH ?? 300_000);
const line = (name: string, value: string | number) => console.log(`${name}=${value}`);

interface Column {
  keysPerSecond: number;
  seconds: number;
  keys: number;
  errors: number;
  slowestMs: number;
}

/** Prints a column's lines under `name` and returns it. */
function report(name: string, column: Column): Column {
  console.log(`${name}: ${column.keys} keys in ${column.seconds.toFixed(2)} s`);
  line(`${name}_keys_per_s`, Math.round(column.keysPerSecond));
  line(`${name}_client_errors`, column.errors);
  line(`${name}_slowest_request_ms`, Math.round(column.slowestMs));
  return column;
}

/** Runs a tool without blocking this process (the load's reports and the worker go on); at most 20 minutes. */
function run(tool: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 1_200_000 });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

const myId = (node: { host: string; port: number }) =>
  spawnSync(toolPath('redis-cli'), ['-h', node.host, '-p', String(node.port), 'CLUSTER', 'MYID'], {
    encoding: 'utf8',
  }).stdout.trim();

/**
 * Every column on one cluster of `server` nodes, each under the same client load, the slots going m1 -> m2 (ours),
 * back m2 -> m1 (redis-cli), and with `byHand` m1 -> m2 again by CLUSTER MIGRATESLOTS issued by hand.
 */
async function columns(server: string, byHand: boolean): Promise<{ ours: Column; redisCli: Column; hand?: Column }> {
  const running = await startRunningStack(`bench-reshard-${server}`);
  try {
    const spec = { ...(await seedTopology(running.stack, 'bench-reshard')), server: toolPath(server) };
    await running.client.provision(spec);
    await running.client.result(spec.name);
    const [m1, m2] = masters(spec);
    const filler = new Cluster([{ host: m1!.host, port: m1!.port }], { enableAutoPipelining: true });
    for (let start = 0; start < KEYS; start += 5000)
      await Promise.all(Array.from({ length: 5000 }, (_, i) => filler.set(`k:${start + i}`, `v:${start + i}`)));
    let hashKey = '';
    for (let i = 0; !hashKey; i++) {
      const slot = calculateSlot(`big:${i}`);
      if (slot >= 3072 && slot <= 4095) hashKey = `big:${i}`;
    }
    await fillBigHash(filler as unknown as Redis, hashKey, HASH_FIELDS);
    filler.disconnect();
    console.log(`${server}: ${KEYS} keys and a hash of ${HASH_FIELDS} fields (${hashKey}); moving slots 3072-4095`);

    // Ours: the spec gives slots 3072-4095 to m2.
    const moved = {
      ...spec,
      nodes: spec.nodes.map((n) =>
        n.id === 'm1' ? { ...n, slots: ['0-3071'] } : n.id === 'm2' ? { ...n, slots: ['3072-8191'] } : n,
      ),
    } as ClusterSpec;
    const seed = { host: m1!.host, port: m1!.port };
    let load = startClusterLoad(seed, KEYS);
    await load.ready;
    await running.client.provision(moved);
    const result = await running.client.result(spec.name);
    let stats = await load.stop();
    const step = result.steps.find((s) => s.name === 'moveSlots')!;
    const stepResult = step.result as { keys: number; slots: number; moves: { atomic?: unknown }[] };
    const keys = stepResult.keys;
    const column = (seconds: number): Column => ({
      keysPerSecond: keys / seconds,
      seconds,
      keys,
      errors: stats.errors,
      slowestMs: stats.slowestMs,
    });
    console.log(`${server} ours: ${stepResult.moves.some((m) => m.atomic) ? 'atomic' : 'classic'}`);
    const ours = column(step.durationMs! / 1000);

    // Theirs: the same slots back to m1 with redis-cli (its defaults, as users run it; the classic protocol).
    const [id1, id2] = [myId(m1!), myId(m2!)];
    load = startClusterLoad(seed, KEYS);
    await load.ready;
    let started = performance.now();
    const reshard = await run(toolPath('redis-cli'), [
      '--cluster',
      'reshard',
      `${m1!.host}:${m1!.port}`,
      '--cluster-from',
      id2,
      '--cluster-to',
      id1,
      '--cluster-slots',
      '1024',
      '--cluster-yes',
    ]);
    let seconds = (performance.now() - started) / 1000;
    stats = await load.stop();
    if (reshard.status !== 0) throw new Error(`redis-cli --cluster reshard failed: ${reshard.stderr.slice(-2000)}`);
    const redisCli = column(seconds);
    if (!byHand) return { ours, redisCli };

    // The servers' own move, issued by hand on m1 and followed until it ends.
    const m1Node = new IORedis({ host: m1!.host, port: m1!.port });
    load = startClusterLoad(seed, KEYS);
    await load.ready;
    started = performance.now();
    await m1Node.call('CLUSTER', 'MIGRATESLOTS', 'SLOTSRANGE', 3072, 4095, 'NODE', id2);
    for (;;) {
      const jobs = parseSlotMigrations(await m1Node.call('CLUSTER', 'GETSLOTMIGRATIONS'));
      const state = jobs.sort((a, b) => b.createTime - a.createTime)[0]?.state ?? '';
      if (state === 'success') break;
      if (/^(failed|cancel)/.test(state)) throw new Error(`MIGRATESLOTS by hand ended ${state}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    seconds = (performance.now() - started) / 1000;
    stats = await load.stop();
    m1Node.disconnect();
    return { ours, redisCli, hand: column(seconds) };
  } finally {
    await running.stop();
  }
}

async function main(): Promise<void> {
  // BENCH_RESHARD_ONLY=redis or valkey9 runs one side (while working on it); the ratios need both.
  const only = process.env.BENCH_RESHARD_ONLY;
  const redis = only === 'valkey9' ? undefined : await columns('redis-server', false);
  if (redis) {
    report('ours', redis.ours);
    report('redis_cli_reshard', redis.redisCli);
  }
  const valkey = only === 'redis' ? undefined : await columns('valkey-server-9', true);
  if (valkey) {
    report('valkey9_ours', valkey.ours);
    report('valkey9_redis_cli_reshard', valkey.redisCli);
    report('valkey9_migrateslots_by_hand', valkey.hand!);
  }
  // Last, for scripts.
  if (redis) line('ratio_vs_redis_cli_reshard', (redis.ours.keysPerSecond / redis.redisCli.keysPerSecond).toFixed(2));
  if (valkey) {
    line('valkey9_ratio_vs_redis_cli', (valkey.ours.keysPerSecond / valkey.redisCli.keysPerSecond).toFixed(2));
    line('valkey9_ratio_vs_migrateslots', (valkey.ours.keysPerSecond / valkey.hand!.keysPerSecond).toFixed(2));
  }
  const run = [redis?.ours, redis?.redisCli, valkey?.ours, valkey?.redisCli, valkey?.hand];
  line(
    'client_errors_total',
    run.reduce((sum, c) => sum + (c?.errors ?? 0), 0),
  );
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
