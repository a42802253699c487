/**
 * bench:reshard. One slot move done by us and by `redis-cli --cluster reshard`, side by side on the same data: the
 * seed cluster with BENCH_RESHARD_KEYS small keys (200,000) and a hash of BENCH_RESHARD_HASH fields (300,000) in the
 * slots that move. Ours: a re-provision whose spec gives 1,024 of m1's slots (3072-4095) to m2 (the moveSlots step's
 * time and keys). Theirs: the same 1,024 slots moved back from m2 to m1 with `redis-cli --cluster reshard` (its
 * defaults, as users run it). During each, a cluster client reads and writes (bounded): its errors besides redirects
 * and its slowest request are printed. Last line: ratio_vs_redis_cli_reshard=<ours / theirs, keys/s>.
 */
import { spawnSync } from 'node:child_process';
import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import type Redis from 'ioredis';
import { toolPath } from '../src/host/tools';
import { type ClusterSpec, masters } from '../src/model';
import { fillBigHash } from '../src/local/sample-data';
import { startRunningStack } from '../test/helpers/running-stack';
import { seedTopology } from '../test/helpers/stack';

const KEYS = Number(process.env.BENCH_RESHARD_KEYS ?? 200_000);
const HASH_FIELDS = Number(process.env.BENCH_RESHARD_HASH ?? 300_000);
const line = (name: string, value: string | number) => console.log(`${name}=${value}`);

/** Reads and writes through a cluster client until stopped (at most 10 minutes): errors and the slowest request. */
function clientLoad(seed: { host: string; port: number }) {
  const client = new Cluster([seed]);
  const stats = { ops: 0, errors: 0, firstError: '', slowestMs: 0 };
  let stop = false;
  const started = Date.now();
  const done = (async () => {
    for (let n = 0; !stop && Date.now() - started < 600_000; n++) {
      const t = performance.now();
      try {
        const i = (n * 7919) % KEYS;
        if ((await client.get(`k:${i}`)) !== `v:${i}`) throw new Error(`k:${i} read wrong`);
        await client.set(`load:${n % 10_000}`, String(n));
      } catch (err) {
        stats.errors++;
        stats.firstError ||= (err as Error).message;
      }
      stats.slowestMs = Math.max(stats.slowestMs, performance.now() - t);
      stats.ops++;
    }
  })();
  return {
    stop: async () => {
      stop = true;
      await done;
      client.disconnect();
      return stats;
    },
  };
}

async function main(): Promise<void> {
  const running = await startRunningStack('bench-reshard');
  try {
    const spec = await seedTopology(running.stack, 'bench-reshard');
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
    console.log(`dataset: ${KEYS} keys and a hash of ${HASH_FIELDS} fields (${hashKey}); moving slots 3072-4095`);

    // Ours: the spec gives slots 3072-4095 to m2.
    const moved = {
      ...spec,
      nodes: spec.nodes.map((n) =>
        n.id === 'm1' ? { ...n, slots: ['0-3071'] } : n.id === 'm2' ? { ...n, slots: ['3072-8191'] } : n,
      ),
    } as ClusterSpec;
    let load = clientLoad({ host: m1!.host, port: m1!.port });
    await running.client.provision(moved);
    const result = await running.client.result(spec.name);
    const ours = await load.stop();
    const step = result.steps.find((s) => s.name === 'moveSlots')!;
    const stepResult = step.result as { keys: number; slots: number };
    const oursSeconds = step.durationMs! / 1000;
    const oursRate = stepResult.keys / oursSeconds;
    console.log(`ours: ${stepResult.slots} slots, ${stepResult.keys} keys in ${oursSeconds.toFixed(2)} s`);
    line('ours_keys_per_s', Math.round(oursRate));
    line('ours_client_errors', ours.errors);
    line('ours_slowest_request_ms', Math.round(ours.slowestMs));
    if (ours.firstError) console.log(`ours: first client error: ${ours.firstError}`);

    // Theirs: the same slots back to m1 with redis-cli.
    const ids = new Map<number, string>();
    for (const node of [m1!, m2!]) {
      const out = spawnSync(toolPath('redis-cli'), ['-h', node.host, '-p', String(node.port), 'CLUSTER', 'MYID'], {
        encoding: 'utf8',
      });
      ids.set(node.port, out.stdout.trim());
    }
    load = clientLoad({ host: m1!.host, port: m1!.port });
    const started = performance.now();
    const reshard = spawnSync(
      toolPath('redis-cli'),
      [
        '--cluster',
        'reshard',
        `${m1!.host}:${m1!.port}`,
        '--cluster-from',
        ids.get(m2!.port)!,
        '--cluster-to',
        ids.get(m1!.port)!,
        '--cluster-slots',
        '1024',
        '--cluster-yes',
      ],
      { encoding: 'utf8', maxBuffer: 1 << 28, timeout: 1_200_000 },
    );
    const theirsSeconds = (performance.now() - started) / 1000;
    const theirs = await load.stop();
    if (reshard.status !== 0) throw new Error(`redis-cli --cluster reshard failed: ${reshard.stderr.slice(-2000)}`);
    const theirsRate = stepResult.keys / theirsSeconds;
    console.log(`redis-cli: 1024 slots, ${stepResult.keys} keys in ${theirsSeconds.toFixed(2)} s`);
    line('redis_cli_reshard_keys_per_s', Math.round(theirsRate));
    line('redis_cli_client_errors', theirs.errors);
    line('redis_cli_slowest_request_ms', Math.round(theirs.slowestMs));
    if (theirs.firstError) console.log(`redis-cli: first client error: ${theirs.firstError}`);
    line('ratio_vs_redis_cli_reshard', (oursRate / theirsRate).toFixed(2));
  } finally {
    await running.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
