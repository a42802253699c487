/**
 * Moving slots by changing the spec, on nodes of one server (reshard.test.ts: Redis 7.0, the classic protocol;
 * reshard-valkey9.test.ts: Valkey 9.1, atomic jobs): the seed cluster with 100,000 keys and a 300,000-field hash in a
 * moving slot, re-provisioned with 1,024 of m1's slots given to m2 while a bounded read/write load runs through a
 * cluster client: every key in place, no client error besides redirects, the slowest request measured. Then a slot
 * `redis-cli`-style commands left half-moved is settled toward the spec, a fifth master joins, the worker is SIGKILLed
 * in the middle of a move, the fifth master is taken out, and a throttled move is paused and resumed (throttled moves
 * go by the classic protocol on every server).
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import calculateSlot from 'cluster-key-slot';
import Redis, { Cluster } from 'ioredis';
import { type ClusterSpec, masters } from '../../src/model';
import { planProvisioning } from '../../src/cluster/inspect';
import { RedisClusterClient } from '../../src/client';
import { stopTestServers } from '../helpers/servers';
import { portOpen } from '../../src/host/processes';
import { temporaryKeyFor } from '../../src/redis/build-in-pieces';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';
import path from 'node:path';
import { type Stack, freePortBlock, seedTopology, startStack } from '../helpers/stack';
import { fillBigHash } from '../helpers/dataset';
import { toolPath } from '../../src/host/tools';
import { moveAtomically, parseSlotMigrations } from '../../src/cluster/atomic-moves';
import { type SlotMovesResult, moveSlots } from '../../src/cluster/move-slots';

Runtime.install({ logger: new DefaultLogger('WARN') });

/** The suite on nodes of `server`: "redis-server" (classic moves) or "valkey-server-9" (atomic moves). */
export function reshardSuite(server: 'redis-server' | 'valkey-server-9'): void {
  const atomic = server === 'valkey-server-9';
  const name = atomic ? 'reshard-v9' : 'reshard';
  const KEYS = 100_000;
  const HASH_FIELDS = 300_000;

  let stack: Stack;
  /** The worker runs as its own process, so that the last test can SIGKILL it in the middle of a move. */
  let worker: WorkerProcess;
  let client: RedisClusterClient;
  let spec: ClusterSpec;
  /** The spec once a fifth master joined (the third test), for the fourth. */
  let grownSpec: ClusterSpec;
  /** The spec the fourth test leaves, for the fifth. */
  let fiveMasters: ClusterSpec;
  /** The spec the fifth test leaves, for the sixth. */
  let fourMasters: ClusterSpec;
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
    stack = await startStack(name);
    client = await RedisClusterClient.connect({ address: stack.temporal.address });
    worker = startWorkerProcess(stack.temporal.address);
    await worker.ready;
    spec = { ...(await seedTopology(stack, name)), ...(atomic ? { server: toolPath('valkey-server-9') } : {}) };
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

  /**
   * Every key of the fill holds its value, read through a new cluster client from the node at `port` (a new client: an
   * auto-pipelined one fails a pipeline on MOVED instead of following it). `then` checks more with it.
   */
  async function expectEveryKey(port: number, then?: (reader: Cluster) => Promise<void>): Promise<void> {
    const reader = new Cluster([{ host: '127.0.0.1', port }]);
    try {
      for (let start = 0; start < KEYS; start += 5000) {
        const values = await Promise.all(Array.from({ length: 5000 }, (_, i) => reader.get(`k:${start + i}`)));
        expect(values.filter((v, i) => v !== `v:${start + i}`)).toEqual([]);
      }
      await then?.(reader);
    } finally {
      reader.disconnect();
    }
  }

  test('1,024 slots of m1 moved to m2 under a client load: every key in place, no client error', async () => {
    const moved = withSlots(spec, '0-3071', '3072-8191');
    const plan = await planProvisioning(moved);
    expect(plan.changes.filter((c) => c.step === 'moveSlots').map((c) => c.change)).toEqual([
      expect.stringMatching(
        /^move slots 3072-4095 \(1024 slots\) from 127\.0\.0\.1:\d+ \(\w+\): \d+ keys, about [\d.]+ MB$/,
      ),
    ]);

    const load = startLoad(200_000, 120);
    const started = Date.now();
    // The big hash is rebuilt piece by piece in m2 while clients still use it in m1: a field written then, once its
    // copy has begun, makes the move build it again, and is not lost.
    const big = keyInSlots('big:', 3072, 4095);
    const m2Node = new Redis({ host: '127.0.0.1', port: masters(moved)[1]!.port });
    let poked = false;
    // (An atomic move has no such copy: the server moves the slots whole, and clients wait out the handoff.)
    const poke = (async () => {
      if (atomic) return;
      const tmp = temporaryKeyFor(Buffer.from(big))!;
      for (const deadline = Date.now() + 60_000; !poked && Date.now() < deadline;) {
        const [, [, exists] = []] = (await m2Node.pipeline().call('ASKING').exists(tmp).exec()) ?? [];
        if (exists === 1) poked = (await cluster.hset(big, 'written-during-the-move', 'yes')) === 1;
        else await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await client.provision(moved);
    const result = await client.result(spec.name);
    const stats = await load.stop();
    await poke;
    m2Node.disconnect();
    const seconds = (Date.now() - started) / 1000;
    const step = result.steps.find((s) => s.name === 'moveSlots')!;
    console.log(
      `reshard: ${JSON.stringify(step.result)} in ${seconds.toFixed(1)} s; load ${stats.ops} ops, slowest ${stats.slowestMs.toFixed(0)} ms, errors ${stats.errors.length}`,
    );
    expect(step.status).toBe('done');
    if (atomic) {
      expect(step.result).toMatchObject({ slots: 1024, bigKeys: 0 });
      const { job } = (step.result as SlotMovesResult).moves[0]!.atomic!;
      // The job in the owner's log of migrations, ended well.
      const m1 = new Redis({ host: '127.0.0.1', port: masters(moved)[0]!.port });
      const jobs = parseSlotMigrations(await m1.call('CLUSTER', 'GETSLOTMIGRATIONS'));
      m1.disconnect();
      expect(jobs.find((j) => j.name === job)).toMatchObject({ slotRanges: '3072-4095', state: 'success' });
    } else {
      expect(step.result).toMatchObject({ slots: 1024, bigKeys: 1, bigKeysInPieces: 1 });
      expect(poked).toBe(true);
    }
    expect(result.report.problems).toEqual([]);
    expect(stats.errors).toEqual([]);
    expect(stats.ops).toBeGreaterThan(100);

    const m2 = masters(moved)[1]!;
    const slots = (await cluster.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    const owner = (slot: number) => slots.find(([s, e]) => slot >= s && slot <= e)![2][1];
    expect(owner(3072)).toBe(m2.port);
    expect(owner(4095)).toBe(m2.port);
    await expectEveryKey(m2.port, async (reader) =>
      expect([await reader.hlen(big), await reader.hget(big, 'written-during-the-move')]).toEqual(
        atomic ? [HASH_FIELDS, null] : [HASH_FIELDS + 1, 'yes'],
      ),
    );
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

  // The classic path only: it reads which masters besides the owner hold keys of the slots it moves, once for all
  // (slot-survey.ts), and takes those keys along. A server's atomic job moves the owner's keys alone.
  if (!atomic)
    test('a key left by hand on a master that does not own its slot goes with the slot', async () => {
      const base = withSlots(spec, '0-3071', '3072-8191');
      const there = {
        ...base,
        nodes: base.nodes.map((n) =>
          n.id === 'm1' ? { ...n, slots: ['64-3071'] } : n.id === 'm2' ? { ...n, slots: ['0-63', '3072-8191'] } : n,
        ),
      } as ClusterSpec;
      const [m1, m2, m3] = masters(base);
      const node = (port: number) => new Redis({ host: '127.0.0.1', port });
      const [a, b, c] = [node(m1!.port), node(m2!.port), node(m3!.port)];
      try {
        const key = keyInSlots('stray:', 20, 20);
        // An orphan: written on m3 while it imported the slot, then the mark dropped by hand.
        await c.cluster('SETSLOT', 20, 'IMPORTING', String(await a.cluster('MYID')));
        await c.pipeline().asking().set(key, 'left here').exec();
        await c.cluster('SETSLOT', 20, 'STABLE');
        expect(await c.cluster('COUNTKEYSINSLOT', 20)).toBe(1);

        await client.provision(there);
        const moved = await client.result(spec.name);
        expect(moved.report.problems).toEqual([]);
        expect(await c.cluster('COUNTKEYSINSLOT', 20)).toBe(0);
        expect(String(await c.cluster('NODES'))).not.toMatch(/\[\d+-[<>]-/);
        expect(await b.pipeline().asking().get(key).exec()).toEqual([
          [null, 'OK'],
          [null, 'left here'],
        ]);
        expect(await cluster.get(key)).toBe('left here');

        // Back, for the tests after this one.
        await client.provision(base);
        expect((await client.result(spec.name)).report.problems).toEqual([]);
        expect(await a.cluster('COUNTKEYSINSLOT', 20)).toBeGreaterThan(1);
        expect(await cluster.get(key)).toBe('left here');
      } finally {
        for (const n of [a, b, c]) n.disconnect();
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
      dataDir: path.join(stack.stateDir, name, 'data'),
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
    const next = (fiveMasters = {
      ...grownSpec,
      nodes: grownSpec.nodes.map((n) =>
        n.id === 'm3' ? { ...n, slots: ['8192-10239'] } : n.id === 'm4' ? { ...n, slots: ['10240-16383'] } : n,
      ),
    } as ClusterSpec);
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
      // Killed once a tenth of the slots are over, in the middle of the move; an atomic move, once its job is listed
      // (the job goes on in the servers without the worker: the next attempt finds it, or its slots moved).
      let owned = 0;
      let job = '(none)';
      const m3 = new Redis({ host: '127.0.0.1', port: masters(next)[2]!.port });
      for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
        if (atomic) {
          const listed = parseSlotMigrations(await m3.call('CLUSTER', 'GETSLOTMIGRATIONS')).find(
            (j) => j.operation === 'EXPORT' && j.slotRanges === '10240-12287',
          );
          if (listed) {
            job = `${listed.name} ${listed.state}`;
            break;
          }
        } else if ((owned = await m4Slots()) >= 4096 + 205) break;
        await new Promise((r) => setTimeout(r, atomic ? 2 : 20));
      }
      m3.disconnect();
      await killWorker(worker);
      owned = await m4Slots();
      console.log(`reshard: worker SIGKILLed with ${owned - 4096} of 2048 slots moved; atomic job ${job}`);
      if (atomic) expect(job).not.toBe('(none)');
      else expect(owned).toBeLessThan(4096 + 2048);
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
    await expectEveryKey(masters(next)[0]!.port);
  }, 300_000);

  test('5 masters back to 4: m5 emptied under a client load, then, once approved, forgotten by every node and stopped', async () => {
    const [m5, r5] = ['m5', 'r5'].map((id) => fiveMasters.nodes.find((n) => n.id === id)!);
    const four = {
      ...fiveMasters,
      nodes: fiveMasters.nodes
        .filter((n) => n !== m5 && n !== r5)
        .map((n) => (n.id === 'm2' ? { ...n, slots: ['3072-8191'] } : n)),
    } as ClusterSpec;
    // Nodes the spec neither names nor lists under "remove" are another cluster's: refused, nothing changes.
    expect((await planProvisioning(four)).refusals.join('\n')).toMatch(
      /does not name; if they are nodes of this cluster to take out, list them under "remove"/,
    );

    const shrunk = (fourMasters = {
      ...four,
      remove: [m5!, r5!].map((n) => ({ host: n.host, port: n.port, stop: true })),
    } as ClusterSpec);
    const plan = await planProvisioning(shrunk);
    console.log(`reshard 5 -> 4 plan:\n${plan.changes.map((c) => `${c.step} ${c.node ?? ''} ${c.change}`).join('\n')}`);
    expect(plan.refusals).toEqual([]);
    expect(plan.changes.filter((c) => ['moveSlots', 'removeNodes'].includes(c.step)).map((c) => c.change)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^move slots 7000-8191 \\(1192 slots\\) from 127\\.0\\.0\\.1:${m5!.port} .*: \\d+ keys, about [\\d.]+ MB$`,
        ),
      ),
      expect.stringMatching(
        new RegExp(
          `^forget master 127\\.0\\.0\\.1:${m5!.port} \\(\\w+\\) on every node, CLUSTER RESET SOFT on it, stop it$`,
        ),
      ),
      expect.stringMatching(new RegExp(`^forget replica 127\\.0\\.0\\.1:${r5!.port} .*, stop it$`)),
    ]);

    const load = startLoad(100_000, 120);
    await client.provision(shrunk);
    // Emptied first; the removal itself waits for the operator.
    let waiting: Awaited<ReturnType<RedisClusterClient['progress']>>['waitingForApproval'];
    for (const deadline = Date.now() + 120_000; !waiting && Date.now() < deadline;) {
      waiting = (await client.progress(spec.name)).waitingForApproval;
      if (!waiting) await new Promise((r) => setTimeout(r, 200));
    }
    expect(waiting?.approval).toBe('remove');
    expect(waiting?.plan).toHaveLength(2);
    // Its last slot gone, Redis made m5 a replica of m2 (cluster-allow-replica-migration): it owns nothing, and
    // holds only a copy of m2's keys.
    const five = new Redis({ host: '127.0.0.1', port: m5!.port });
    try {
      const mine = String(await five.cluster('NODES'))
        .split('\n')
        .find((l) => l.includes('myself'))!;
      expect(mine.split(' ').slice(8)).toEqual([]);
    } finally {
      five.disconnect();
    }
    expect(await portOpen(m5!.port)).toBe(true);
    await client.approve(spec.name, ['remove']);
    const result = await client.result(spec.name);
    const stats = await load.stop();
    console.log(
      `reshard 5 -> 4: ${JSON.stringify(result.steps.find((s) => s.name === 'removeNodes')!.result)}; load ${stats.ops} ops, slowest ${stats.slowestMs.toFixed(0)} ms`,
    );
    expect(result.report.problems).toEqual([]);
    expect(stats.errors).toEqual([]);
    expect(await portOpen(m5!.port)).toBe(false);
    expect(await portOpen(r5!.port)).toBe(false);
    const m1 = new Redis({ host: '127.0.0.1', port: masters(four)[0]!.port });
    try {
      expect(
        String(await m1.cluster('NODES'))
          .trim()
          .split('\n'),
      ).toHaveLength(8);
    } finally {
      m1.disconnect();
    }
    await expectEveryKey(masters(four)[0]!.port);
    // A second run has nothing left to remove, and does not wait.
    await client.provision(shrunk);
    const again = await client.result(spec.name);
    expect(again.steps.find((s) => s.name === 'removeNodes')!.result).toEqual({ changes: [] });
    expect(again.report.problems).toEqual([]);
  }, 300_000);

  test('slot moves throttled from the start, paused (every slot settled, none moving), resumed: all moved', async () => {
    // 1,024 of m4's slots to m3.
    const next = {
      ...fourMasters,
      nodes: fourMasters.nodes.map((n) =>
        n.id === 'm3' ? { ...n, slots: ['8192-11263'] } : n.id === 'm4' ? { ...n, slots: ['11264-16383'] } : n,
      ),
    } as ClusterSpec;
    const [, , m3, m4] = masters(next).map((n) => new Redis({ host: '127.0.0.1', port: n.port }));
    const halfMoved = async () =>
      [String(await m3!.cluster('NODES')), String(await m4!.cluster('NODES'))].some((t) => /\[\d+-[<>]-/.test(t));
    try {
      const keysToMove = (
        await Promise.all(Array.from({ length: 1024 }, (_, i) => m4!.cluster('COUNTKEYSINSLOT', 10240 + i)))
      ).reduce((a: number, b) => a + Number(b), 0);
      await client.provision(next);
      const PER_SECOND = 300;
      expect(await client.throttle(spec.name, PER_SECOND)).toBe(PER_SECOND);
      const progress = async () => (await client.progress(spec.name)).slotMoves!;
      for (const deadline = Date.now() + 60_000; (await progress()).slotsDone === 0 && Date.now() < deadline;)
        await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      const first = await progress();
      await client.pause(spec.name);
      // The call in flight settles its slots within its 5 s budget; then nothing moves until resumed.
      await new Promise((r) => setTimeout(r, 7000));
      const paused = await progress();
      expect(paused.paused).toBe(true);
      expect(await halfMoved()).toBe(false);
      await new Promise((r) => setTimeout(r, 3000));
      expect((await progress()).slotsDone).toBe(paused.slotsDone);
      expect(paused.slotsDone).toBeLessThan(1024);
      // Throttled: no more keys than the limit allows over the time it ran (plus one batch).
      expect(paused.keysMoved - first.keysMoved).toBeLessThanOrEqual(
        (PER_SECOND * (Date.now() - started)) / 1000 + 500,
      );
      console.log(`reshard paused at ${paused.slotsDone}/${paused.slotsTotal} slots, ${paused.keysMoved} keys`);
      await client.resume(spec.name);
      await client.throttle(spec.name, null);
      const result = await client.result(spec.name);
      expect(result.report.problems).toEqual([]);
      const moved = result.steps.find((s) => s.name === 'moveSlots')!.result as SlotMovesResult;
      expect(moved).toMatchObject({ slots: 1024, keys: keysToMove });
      // Nodes that move slots atomically: throttled, the classic protocol, which keeps to the limit (once the
      // throttle is off, what is left may go in a job).
      if (atomic)
        expect(moved.fallbacks?.[0]).toMatch(/throttled to 300 keys\/s, which only the classic protocol keeps to/);
      expect(await m3!.cluster('COUNTKEYSINSLOT', 11263)).toBeGreaterThan(0);
      expect(await m4!.cluster('COUNTKEYSINSLOT', 11263)).toBe(0);
    } finally {
      m3!.disconnect();
      m4!.disconnect();
    }
  }, 300_000);

  // Only nodes that move slots atomically can refuse a job.
  if (atomic)
    test('an owner with a slot left MIGRATING by the classic protocol refuses the job: the classic protocol moves the slots, and the step says why', async () => {
      const throttled = (slots: Record<string, string>) =>
        ({
          ...fourMasters,
          nodes: fourMasters.nodes.map((n) => (slots[n.id] ? { ...n, slots: [slots[n.id]] } : n)),
        }) as ClusterSpec;
      // Where the throttled move left the slots; then 1,024 of m3's back to m4.
      const next = throttled({ m3: '8192-10239', m4: '10240-16383' });
      const [m3, m4] = masters(next)
        .slice(2)
        .map((n) => new Redis({ host: '127.0.0.1', port: n.port }));
      try {
        const [id3, id4] = [String(await m3!.cluster('MYID')), String(await m4!.cluster('MYID'))];
        await m4!.cluster('SETSLOT', 11000, 'IMPORTING', id3);
        await m3!.cluster('SETSLOT', 11000, 'MIGRATING', id4);
        await client.provision(next);
        const result = await client.result(spec.name);
        expect(result.report.problems).toEqual([]);
        const moved = result.steps.find((s) => s.name === 'moveSlots')!.result as SlotMovesResult;
        console.log(`reshard with a stray MIGRATING slot: ${JSON.stringify(moved)}`);
        expect(moved.fallbacks).toEqual([expect.stringMatching(/refused MIGRATESLOTS: .*manually migrated/i)]);
        // The classic protocol took slots (the stray one settled with them) until its call's time was up; a later
        // call may find the owner free of manual moves and send the rest in a job.
        expect(moved).toMatchObject({ slots: 1024 });
        expect(String(await m3!.cluster('NODES'))).not.toMatch(/\[\d+-[<>]-/);
        expect(await m4!.cluster('COUNTKEYSINSLOT', 11000)).toBeGreaterThan(0);
      } finally {
        m3!.disconnect();
        m4!.disconnect();
      }
      await expectEveryKey(masters(next)[0]!.port);
    }, 300_000);

  if (atomic)
    test("a call that returns while the server's job runs reports its state; the next call finds the job and waits for it", async () => {
      // Where the refused-job test left the slots; then 1,024 of m4's to m3, by the activity's own code, twice.
      const withRanges = (m3: string, m4: string) =>
        ({
          ...fourMasters,
          nodes: fourMasters.nodes.map((n) =>
            n.id === 'm3' ? { ...n, slots: [m3] } : n.id === 'm4' ? { ...n, slots: [m4] } : n,
          ),
        }) as ClusterSpec;
      const next = withRanges('8192-11263', '11264-16383');
      const first = await moveSlots(next, { atomicWaitMs: 0 });
      console.log(`an atomic move left running: ${JSON.stringify(first)}`);
      expect(first).toMatchObject({ slots: 0, slotsLeft: 1024 });
      expect(first.atomicRunning).toMatchObject({ to: 'm3', slots: 1024, state: expect.any(String) });
      expect(first.atomicRunning!.state).not.toMatch(/^(success|failed|cancel)/);
      expect(first.fallbacks).toBeUndefined();

      const second = await moveSlots(next);
      expect(second).toMatchObject({ slots: 1024, slotsLeft: 0 });
      expect(second.moves[0]!.atomic).toMatchObject({ job: first.atomicRunning!.job, resumed: true });
      expect(second.atomicRunning).toBeUndefined();

      // A call that read the cluster while the job ran, and reaches the owner after it ended: the job counts as done
      // (no new MIGRATESLOTS, which the owner would refuse for slots it no longer has).
      const [m3, m4] = masters(next)
        .slice(2)
        .map((n) => ({ address: `127.0.0.1:${n.port}`, client: new Redis({ host: '127.0.0.1', port: n.port }) }));
      try {
        const [id3, id4] = [String(await m3!.client.cluster('MYID')), String(await m4!.client.cluster('MYID'))];
        const late = await moveAtomically({ ...m4!, id: id4 }, { ...m3!, id: id3 }, [[10240, 11263]], 0);
        expect(late).toMatchObject({ done: true, job: first.atomicRunning!.job, resumed: true });
        expect(late.keys).toBeGreaterThan(0);
      } finally {
        m3!.client.disconnect();
        m4!.client.disconnect();
      }
      await expectEveryKey(masters(next)[0]!.port);
    }, 300_000);
}
