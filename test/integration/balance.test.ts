/**
 * `rco plan --balance keys` on a keyspace skewed on purpose (one master with three times the keys of the others, and
 * a few hot slots), on Redis 7.0 nodes (read with CLUSTER COUNTKEYSINSLOT) and Valkey 8.1 nodes (CLUSTER SLOT-STATS):
 * the spec it writes evens the key count to within 5% between masters, and provisioning it moves exactly the slots
 * of the plan.
 */
import calculateSlot from 'cluster-key-slot';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { PROJECT_ROOT } from '../../src/host/tools';
import { type BalancePlan, type ClusterSpec, adminAddress, masters, spread } from '../../src/model';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { renderedTopology } from '../helpers/stack';

const execFileAsync = promisify(execFile);

let running: RunningStack;

beforeAll(async () => {
  running = await startRunningStack('balance');
});

afterAll(async () => {
  await running?.stop();
});

/** 8,000 keys over every slot, 5,500 more in slots 0-4095 (m1's: 3x the others), 500 in each of three hot slots. */
async function skew(spec: ClusterSpec): Promise<void> {
  const cluster = new Redis.Cluster(masters(spec).map(adminAddress));
  try {
    const keys: string[] = [];
    for (let i = 0; i < 8000; i++) keys.push(`even:${i}`);
    for (let i = 0; keys.length < 13_500; i++) if (calculateSlot(`m1:${i}`) < 4096) keys.push(`m1:${i}`);
    for (const tag of ['hot-a', 'hot-b', 'hot-c']) for (let i = 0; i < 500; i++) keys.push(`{${tag}}:${i}`);
    for (let i = 0; i < keys.length; i += 500)
      await Promise.all(keys.slice(i, i + 500).map((key) => cluster.set(key, 'v')));
  } finally {
    cluster.disconnect();
  }
}

/** The keys each master holds, in spec order. */
async function keysPerMaster(spec: ClusterSpec): Promise<number[]> {
  return Promise.all(
    masters(spec).map(async (node) => {
      const client = new Redis(adminAddress(node));
      try {
        // Not the orchestrator's own keys (a run that moved slots records its epochs in rco:epochs:{...}).
        const [, ours] = await client.scan('0', 'MATCH', 'rco:*', 'COUNT', 100_000);
        return (await client.dbsize()) - ours.length;
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** `rco plan <spec> --balance <measure> --write <new spec> --json`, as a user runs it: the plan and the new spec. */
async function planBalance(spec: ClusterSpec, measure: 'keys' | 'network') {
  const specFile = path.join(running.stack.stateDir, `${spec.name}.json`);
  const newFile = path.join(running.stack.stateDir, `${spec.name}.balanced.json`);
  writeFileSync(specFile, JSON.stringify(spec));
  const { stdout } = await execFileAsync(
    path.join(PROJECT_ROOT, 'bin', 'rco'),
    ['plan', specFile, '--balance', measure, '--write', newFile, '--json'],
    { env: process.env },
  );
  const plan = JSON.parse(stdout) as BalancePlan & {
    readWith: Record<string, string>;
    spreadBefore: number;
    spreadAfter: number;
  };
  return { plan, balanced: JSON.parse(readFileSync(newFile, 'utf8')) as ClusterSpec };
}

describe.each([
  ['redis-server', 'CLUSTER COUNTKEYSINSLOT'],
  ['valkey-server', 'CLUSTER SLOT-STATS'],
])('on %s nodes', (server, readWith) => {
  test('the plan evens keys to within 5%, and provisioning it moves only the planned slots', async () => {
    const spec = { ...(await renderedTopology(running.stack, `balance-${server.split('-')[0]}`)), server };
    await running.client.provision(spec);
    await running.client.result(spec.name);
    await skew(spec);
    const before = await keysPerMaster(spec);
    expect(spread(before)).toBeGreaterThan(1.5);

    const { plan, balanced } = await planBalance(spec, 'keys');
    console.log(`balance on ${server}: ${JSON.stringify(plan.masters.map((m) => [m.id, m.before, m.after]))}`);
    expect(Object.values(plan.readWith)).toEqual(Array(4).fill(readWith));
    expect(plan.spreadAfter).toBeLessThan(0.05);
    const planned = plan.transfers.reduce((sum, t) => sum + t.slots, 0);
    expect(planned).toBeGreaterThan(0);

    await running.client.provision(balanced);
    const result = await running.client.result(spec.name);
    const step = result.steps.find((s) => s.name === 'moveSlots')!;
    expect(step.result).toMatchObject({ slots: planned, slotsLeft: 0 });
    expect(result.report.problems).toEqual([]);
    const after = await keysPerMaster(balanced);
    expect(spread(after)).toBeLessThan(0.05);
    expect(after.reduce((a, b) => a + b)).toBe(before.reduce((a, b) => a + b));
  }, 300_000);
});

/**
 * The other measures come from CLUSTER SLOT-STATS once the nodes count them (`cluster-slot-stats-enabled yes`, here set
 * at run time as a user would in the configs): network bytes, with m1's slots taking four times the others' bytes.
 */
test('on valkey-server nodes counting slot stats: --balance network evens the bytes, and provisioning moves only the planned slots', async () => {
  const spec = { ...(await renderedTopology(running.stack, 'balance-network')), server: 'valkey-server' };
  await running.client.provision(spec);
  await running.client.result(spec.name);
  for (const node of masters(spec)) {
    const client = new Redis(adminAddress(node));
    await client.config('SET', 'cluster-slot-stats-enabled', 'yes');
    client.disconnect();
  }
  const cluster = new Redis.Cluster(masters(spec).map(adminAddress));
  try {
    const value = 'v'.repeat(200);
    const keys: string[] = [];
    for (let i = 0; i < 4000; i++) keys.push(`even:${i}`);
    for (let i = 0; keys.length < 7000; i++) if (calculateSlot(`m1:${i}`) < 4096) keys.push(`m1:${i}`);
    for (let i = 0; i < keys.length; i += 500)
      await Promise.all(keys.slice(i, i + 500).map((key) => cluster.set(key, value)));
  } finally {
    cluster.disconnect();
  }
  const { plan, balanced } = await planBalance(spec, 'network');
  console.log(`balance by network bytes: ${JSON.stringify(plan.masters.map((m) => [m.id, m.before, m.after]))}`);
  expect(Object.values(plan.readWith)).toEqual(Array(4).fill('CLUSTER SLOT-STATS'));
  // m1 took 4,000 values and the others 1,000 each, and each key's bytes are alike: m1's bytes are about 4x theirs.
  expect(plan.masters[0]!.before).toBeGreaterThan(3 * plan.masters[1]!.before);
  expect(plan.spreadBefore).toBeGreaterThan(2);
  expect(plan.spreadAfter).toBeLessThan(0.1);
  const planned = plan.transfers.reduce((sum, t) => sum + t.slots, 0);
  expect(planned).toBeGreaterThan(0);

  await running.client.provision(balanced);
  const result = await running.client.result(spec.name);
  expect(result.steps.find((s) => s.name === 'moveSlots')!.result).toMatchObject({ slots: planned, slotsLeft: 0 });
  expect(result.report.problems).toEqual([]);
}, 300_000);
