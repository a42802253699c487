/**
 * The fence of a live sync on a real 3-master cluster: two attempts of one sync apply the same stream (a stalled one
 * Temporal gave up on, and its successor). Each slot takes every command once, in stream order, whichever attempt
 * gets there first; an attempt older than a slot's last writer, or than a new snapshot, is refused (Superseded).
 */
import Redis from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SlotMap } from '../../src/redis/slot-map';
import { StreamApplier } from '../../src/migration/sync/apply';
import { type SyncKeys, readCheckpoints, syncKeys, writeCheckpoints } from '../../src/migration/sync/checkpoints';
import { commandTable } from '../../src/migration/sync/commands';
import { Superseded, loadFenceScripts, stampEverySlot, takeGeneration } from '../../src/migration/sync/fence';
import type { StreamCommand } from '../../src/migration/sync/stream';
import { startPlainCluster } from '../helpers/plain-cluster';
import { stopTestServers } from '../helpers/servers';

let dir: string;
let ports: number[];
let map: SlotMap;
let keys: SyncKeys;
let cluster: InstanceType<typeof Redis.Cluster>;
let table: ReturnType<typeof commandTable>;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rco-fence-'));
  const started = await startPlainCluster(dir);
  ports = started.ports;
  const nodes = started.nodes;
  table = commandTable((await nodes[0]!.call('COMMAND')) as unknown[]);
  for (const node of nodes) node.disconnect();
  map = new SlotMap(ports.map((port) => ({ host: '127.0.0.1', port })));
  await map.refresh();
  keys = syncKeys(map, 'fence-test', 'source:1');
  await loadFenceScripts(map);
  cluster = new Redis.Cluster(ports.map((port) => ({ host: '127.0.0.1', port })));
}, 60_000);

afterAll(async () => {
  cluster?.disconnect();
  map?.close();
  await stopTestServers();
  rmSync(dir, { recursive: true, force: true });
});

const command = (end: number, ...args: string[]): StreamCommand => ({ args: args.map((a) => Buffer.from(a)), end });

/** An attempt: its own applier (and its own record of slot offsets), from `start` in the stream of "replid-a". */
async function attempt(start: number): Promise<{ applier: StreamApplier; generation: number }> {
  const generation = await takeGeneration(map, keys);
  const options = {
    map,
    table,
    destinations: new Map([[0, { db: 0, prefix: undefined }]]),
    replid: 'replid-a',
    keys,
    generation,
  };
  return { applier: new StreamApplier({ ...options, slotOffsets: new Map() }, start, 0), generation };
}

async function apply(applier: StreamApplier, commands: StreamCommand[]): Promise<number> {
  applier.add(commands);
  return applier.flush();
}

test('an older attempt is refused where a newer one wrote; where it has not yet, its commands still count once', async () => {
  const older = await attempt(0);
  const newer = await attempt(0);
  expect(newer.generation).toBeGreaterThan(older.generation);

  // The newer attempt applies the stream up to offset 30 (slot of "k": SET, DEL, SET).
  await apply(newer.applier, [command(10, 'SET', 'k', 'v1'), command(20, 'DEL', 'k'), command(30, 'SET', 'k', 'v2')]);
  expect(await cluster.get('k')).toBe('v2');

  // The stalled one wakes up with the middle of it: refused, and nothing of it applied.
  await expect(apply(older.applier, [command(20, 'DEL', 'k')])).rejects.toThrow(Superseded);
  expect(await cluster.get('k')).toBe('v2');

  // Ahead of the newer attempt in a slot it has not written yet, the older one applies (stream order is kept) ...
  const older2 = await attempt(30);
  const newest = await attempt(30);
  await apply(older2.applier, [command(40, 'SET', 'a', 'x'), command(50, 'INCR', 'n')]);
  // ... and the newer one, reaching the same commands, skips what the slot holds: INCR ran once.
  await apply(newest.applier, [command(40, 'SET', 'a', 'x'), command(50, 'INCR', 'n'), command(60, 'SET', 'a', 'y')]);
  expect(await cluster.get('a')).toBe('y');
  expect(await cluster.get('n')).toBe('1');
  // The slot of "a" now carries the newest generation: the older attempt is refused there.
  await expect(apply(older2.applier, [command(70, 'SET', 'a', 'z')])).rejects.toThrow(Superseded);
  expect(await cluster.get('a')).toBe('y');
});

test('a new snapshot stamps every slot first: an older attempt is refused in any slot, and so are its checkpoints', async () => {
  const older = await attempt(100);
  const snapshot = await attempt(100);
  await writeCheckpoints(map, keys, {
    replid: 'replid-a',
    offset: 100,
    phase: 'snapshot',
    generation: snapshot.generation,
  });
  await stampEverySlot(map, keys, 'replid-a', 100, snapshot.generation);
  for (const key of ['never-written-1', 'never-written-2', 'never-written-3'])
    await expect(apply(older.applier, [command(150, 'SET', key, 'stale')])).rejects.toThrow(Superseded);
  for (const key of ['never-written-1', 'never-written-2', 'never-written-3'])
    expect(await cluster.exists(key)).toBe(0);
  await expect(
    writeCheckpoints(map, keys, { replid: 'replid-a', offset: 150, phase: 'streaming', generation: older.generation }),
  ).rejects.toThrow(Superseded);
  // The snapshot marker stays: a crash now still means a new snapshot.
  expect([...(await readCheckpoints(map, keys)).values()].every((c) => c?.phase === 'snapshot')).toBe(true);
});

test('a command too long for a script is applied in a transaction, once', async () => {
  const { applier } = await attempt(1000);
  const fields = Array.from({ length: 5000 }, (_, i) => [`f${i}`, `v${i}`]).flat();
  await apply(applier, [command(1010, 'HSET', 'big', ...fields), command(1020, 'HINCRBY', 'big', 'counter', '1')]);
  expect(await cluster.hlen('big')).toBe(5001);
  expect(await cluster.hget('big', 'f4999')).toBe('v4999');
  expect(await cluster.hget('big', 'counter')).toBe('1');
});
