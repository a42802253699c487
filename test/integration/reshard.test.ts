/**
 * Moving slots by changing the spec: the seed cluster with 100,000 keys and a 300,000-field hash in a moving slot,
 * re-provisioned with 1,024 of m1's slots given to m2 while a bounded read/write load runs through a cluster client:
 * every key in place, no client error besides redirects, the slowest request measured. Then a slot `redis-cli`-style
 * commands left half-moved is settled toward the spec, and verify accepts the epochs the moves left.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import calculateSlot from 'cluster-key-slot';
import Redis, { Cluster } from 'ioredis';
import { type ClusterSpec, masters } from '../../src/model';
import { planProvisioning } from '../../src/cluster/inspect';
import { RedisClusterClient } from '../../src/client';
import { stopTestServers } from '../helpers/servers';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';
import path from 'node:path';
import { type Stack, freePortBlock, seedTopology, startStack } from '../helpers/stack';
import { fillBigHash } from '../helpers/dataset';

Runtime.install({ logger: new DefaultLogger('WARN') });

const KEYS = 100_000;
const HASH_FIELDS = 300_000;

let stack: Stack;
/** The worker runs as its own process, so that the last test can SIGKILL it in the middle of a move. */
let worker: WorkerProcess;
let client: RedisClusterClient;
let spec: ClusterSpec;
/** The spec once a fifth master joined (the third test), for the fourth. */
let grownSpec: ClusterSpec;
/** The load's client: each command on its own, following MOVED and ASK as applications do. */
let cluster: Cluster;
/** Fills and checks in bulk (auto-pipelined). */
let filler: Cluster;

/** A key whose slot is in [from, to]. */
function keyInSlots(prefix: string, from: number, to: number): string {
  for (let i = 0; ; i++) {
    const slot = calculateSlot(`${prefix}${i}`);
    if (slot >= from && slot <= to) return `${prefix}${i}`;
  }
}

/** The spec with m1's and m2's slots as given. */
function withSlots(base: ClusterSpec, m1: string, m2: string): ClusterSpec {
  return {
    ...base,
    nodes: base.nodes.map((n) => (n.id === 'm1' ? { ...n, slots: [m1] } : n.id === 'm2' ? { ...n, slots: [m2] } : n)),
  } as ClusterSpec;
}

beforeAll(async () => {
  stack = await startStack('reshard');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
  worker = startWorkerProcess(stack.temporal.address);
  await worker.ready;
  spec = await seedTopology(stack, 'reshard');
  await client.provision(spec);
  await client.result(spec.name);
  const m1 = masters(spec)[0]!;
  cluster = new Cluster([{ host: m1.host, port: m1.port }]);
  filler = new Cluster([{ host: m1.host, port: m1.port }], { enableAutoPipelining: true });
  for (let start = 0; start < KEYS; start += 5000)
    await Promise.all(Array.from({ length: 5000 }, (_, i) => filler.set(`k:${start + i}`, `v:${start + i}`)));
  await fillBigHash(filler as unknown as Redis, keyInSlots('big:', 3072, 4095), HASH_FIELDS);
}, 300_000);

afterAll(async () => {
  cluster?.disconnect();
  filler?.disconnect();
  await killWorker(worker);
  await client?.close();
  await stopTestServers();
  await stack?.stop();
});

/** Reads and writes through the cluster client, at most `maxOps` or `maxSeconds`: errors and the slowest request. */
function startLoad(maxOps: number, maxSeconds: number) {
  const stats = { ops: 0, errors: [] as string[], slowestMs: 0 };
  let stop = false;
  const started = Date.now();
  const done = (async () => {
    for (let n = 0; !stop && n < maxOps && Date.now() - started < maxSeconds * 1000; n++) {
      const i = n % KEYS;
      const t = performance.now();
      try {
        const value = await cluster.get(`k:${i}`);
        if (value !== `v:${i}`) stats.errors.push(`k:${i} read ${value}`);
        await cluster.set(`load:${n}`, String(n));
      } catch (err) {
        stats.errors.push((err as Error).message);
      }
      stats.slowestMs = Math.max(stats.slowestMs, performance.now() - t);
      stats.ops++;
    }
  })();
  return {
    stats,
    stop: async () => {
      stop = true;
      await done;
      return stats;
    },
  };
}

test('1,024 slots of m1 moved to m2 under a client load: every key in place, no client error', async () => {
  const moved = withSlots(spec, '0-3071', '3072-8191');
  const plan = await planProvisioning(moved);
  expect(plan.changes.filter((c) => c.step === 'moveSlots').map((c) => c.change)).toEqual([
    expect.stringMatching(/^move slots 3072-4095 \(1024 slots\) from 127\.0\.0\.1:\d+ \(\w+\): \d+ keys$/),
  ]);

  const load = startLoad(200_000, 120);
  const started = Date.now();
  await client.provision(moved);
  const result = await client.result(spec.name);
  const stats = await load.stop();
  const seconds = (Date.now() - started) / 1000;
  const step = result.steps.find((s) => s.name === 'moveSlots')!;
  console.log(
    `reshard: ${JSON.stringify(step.result)} in ${seconds.toFixed(1)} s; load ${stats.ops} ops, slowest ${stats.slowestMs.toFixed(0)} ms, errors ${stats.errors.length}`,
  );
  expect(step.status).toBe('done');
  expect(step.result).toMatchObject({ slots: 1024, bigKeys: 1 });
  expect(result.report.problems).toEqual([]);
  expect(stats.errors).toEqual([]);
  expect(stats.ops).toBeGreaterThan(100);

  const m2 = masters(moved)[1]!;
  const slots = (await cluster.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
  const owner = (slot: number) => slots.find(([s, e]) => slot >= s && slot <= e)![2][1];
  expect(owner(3072)).toBe(m2.port);
  expect(owner(4095)).toBe(m2.port);
  // A new client: an auto-pipelined one fails a pipeline on MOVED instead of following it.
  const reader = new Cluster([{ host: m2.host, port: m2.port }]);
  for (let start = 0; start < KEYS; start += 5000) {
    const values = await Promise.all(Array.from({ length: 5000 }, (_, i) => reader.get(`k:${start + i}`)));
    expect(values.filter((v, i) => v !== `v:${start + i}`)).toEqual([]);
  }
  expect(await reader.hlen(keyInSlots('big:', 3072, 4095))).toBe(HASH_FIELDS);
  reader.disconnect();
  // A second run changes nothing: the cluster is as the spec says, epochs and all.
  await client.provision(moved);
  const again = await client.result(spec.name);
  expect(again.steps.find((s) => s.name === 'moveSlots')!.result).toMatchObject({ slots: 0 });
  expect(again.report.problems).toEqual([]);
}, 600_000);

test('a slot left half-moved (migrating on its owner, importing elsewhere, a key already sent) is settled', async () => {
  const moved = withSlots(spec, '0-3071', '3072-8191');
  const [m1, , m3] = masters(moved);
  const node = (port: number) => new Redis({ host: '127.0.0.1', port });
  const [a, c] = [node(m1!.port), node(m3!.port)];
  try {
    const key = keyInSlots('k:', 10, 10);
    const slot = calculateSlot(key);
    const [aId, cId] = [await a.cluster('MYID'), await c.cluster('MYID')];
    // What `redis-cli --cluster reshard` leaves when it dies between its MIGRATEs.
    await c.cluster('SETSLOT', slot, 'IMPORTING', aId as string);
    await a.cluster('SETSLOT', slot, 'MIGRATING', cId as string);
    await a.migrate('127.0.0.1', m3!.port, key, 0, 5000);
    const plan = await planProvisioning(moved);
    expect(plan.changes.filter((c) => c.step === 'moveSlots').map((c) => c.change)).toEqual([
      expect.stringContaining(`settle slots ${slot} it owns but were left half-moved`),
    ]);
    await client.provision(moved);
    const result = await client.result(spec.name);
    expect(result.report.problems).toEqual([]);
    expect(String(await a.cluster('NODES'))).not.toMatch(/\[\d+-[<>]-/);
    expect(String(await c.cluster('NODES'))).not.toMatch(/\[\d+-[<>]-/);
    expect(await a.cluster('COUNTKEYSINSLOT', slot)).toBeGreaterThan(0);
    expect(await c.cluster('COUNTKEYSINSLOT', slot)).toBe(0);
    expect(await cluster.get(key)).toBe(`v:${key.slice(2)}`);
  } finally {
    a.disconnect();
    c.disconnect();
  }
}, 300_000);

test('a fifth master and its replica join, and receive the slots the spec gives them, keys and all', async () => {
  const base = withSlots(spec, '0-3071', '3072-6999');
  const port = await freePortBlock(2);
  const m5 = { ...base.nodes.find((n) => n.id === 'm1')!, id: 'm5', port, slots: ['7000-8191'], config: 'render:' };
  const r5 = {
    ...base.nodes.find((n) => n.id === 'r1')!,
    id: 'r5',
    port: port + 1,
    replicaOf: 'm5',
    config: 'render:',
  };
  const grown = (grownSpec = {
    ...base,
    dataDir: path.join(stack.stateDir, 'reshard', 'data'),
    nodes: [...base.nodes, m5, r5],
  } as ClusterSpec);
  const owner = new Redis({ host: '127.0.0.1', port: masters(spec)[1]!.port });
  const keysThere = await owner.cluster('COUNTKEYSINSLOT', 7500);
  owner.disconnect();
  expect(keysThere).toBeGreaterThan(0);
  const load = startLoad(100_000, 120);
  await client.provision(grown);
  const result = await client.result(spec.name);
  const stats = await load.stop();
  const step = result.steps.find((s) => s.name === 'moveSlots')!;
  console.log(
    `reshard 4 -> 5: ${JSON.stringify(step.result)}; load ${stats.ops} ops, slowest ${stats.slowestMs.toFixed(0)} ms`,
  );
  expect(result.report.problems).toEqual([]);
  expect(step.result).toMatchObject({ slots: 1192 });
  expect(stats.errors).toEqual([]);
  const five = new Redis({ host: '127.0.0.1', port });
  try {
    expect(await five.cluster('COUNTKEYSINSLOT', 7500)).toBe(keysThere);
    expect(String(await five.cluster('NODES'))).toContain('myself,master');
  } finally {
    five.disconnect();
  }
}, 300_000);

test('the worker SIGKILLed in the middle of a move: a new worker goes on with the slot it was in, nothing lost', async () => {
  // 2,048 of m3's slots to m4.
  const next = {
    ...grownSpec,
    nodes: grownSpec.nodes.map((n) =>
      n.id === 'm3' ? { ...n, slots: ['8192-10239'] } : n.id === 'm4' ? { ...n, slots: ['10240-16383'] } : n,
    ),
  } as ClusterSpec;
  const m4 = new Redis({ host: '127.0.0.1', port: masters(next)[3]!.port });
  const m4Slots = async () => {
    const mine = String(await m4.cluster('NODES'))
      .split('\n')
      .find((line) => line.includes('myself'))!;
    return mine
      .split(' ')
      .slice(8)
      .filter((r) => !r.startsWith('['))
      .reduce((sum, r) => {
        const [a, b] = r.split('-').map(Number);
        return sum + (b ?? a!) - a! + 1;
      }, 0);
  };
  const handle = await client.provision(next);
  try {
    // Killed once a tenth of the slots are over, in the middle of the move.
    let owned = 0;
    for (const deadline = Date.now() + 60_000; owned < 4096 + 205 && Date.now() < deadline;) {
      owned = await m4Slots();
      await new Promise((r) => setTimeout(r, 20));
    }
    await killWorker(worker);
    owned = await m4Slots();
    console.log(`reshard: worker SIGKILLed with ${owned - 4096} of 2048 slots moved`);
    expect(owned).toBeLessThan(4096 + 2048);
    worker = startWorkerProcess(stack.temporal.address);
    await worker.ready;
    const result = await client.result(spec.name);
    expect((await handle.describe()).runId).toBe(handle.firstExecutionRunId);
    expect(result.report.problems).toEqual([]);
    expect(await m4Slots()).toBe(4096 + 2048);
    expect(String(await m4.cluster('NODES'))).not.toMatch(/\[\d+-[<>]-/);
  } finally {
    m4.disconnect();
  }
  const reader = new Cluster([{ host: '127.0.0.1', port: masters(next)[0]!.port }]);
  try {
    for (let start = 0; start < KEYS; start += 5000) {
      const values = await Promise.all(Array.from({ length: 5000 }, (_, i) => reader.get(`k:${start + i}`)));
      expect(values.filter((v, i) => v !== `v:${start + i}`)).toEqual([]);
    }
  } finally {
    reader.disconnect();
  }
}, 300_000);
