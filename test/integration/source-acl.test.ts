/**
 * Least privileges, tested: each mode runs with a source user that has exactly the rules README lists for it
 * (src/model/source-acl.ts), copies every type, verifies every key, and the source's ACL LOG shows nothing was denied.
 */
import { Cluster, type Redis } from 'ioredis';
import path from 'node:path';
import { type ClusterSpec, type MigrationSpecInput, SOURCE_ACL_RULES, adminAddress, masters } from '../../src/model';
import { compareAllKeys, fillEveryType, keysOnlyInTarget } from '../helpers/dataset';
import { type RunningStack, provisionedTarget, startRunningStack } from '../helpers/running-stack';
import { renderedTopology, startPlainSource } from '../helpers/stack';
import { migrationWorkflowId } from '../../src/client';
import { waitFor } from '../helpers/wait';
import { startPlainCluster } from '../helpers/plain-cluster';

let running: RunningStack;
let source: Redis;

beforeAll(async () => {
  running = await startRunningStack('source-acl');
  source = await startPlainSource(running.stack, 'acl-source');
  await fillEveryType(source, 'acl:');
  process.env.RCO_TEST_ACL_PASSWORD = 'acl-pw';
});

afterAll(async () => {
  source?.disconnect();
  await running?.stop();
});

async function userWith(name: string, rules: readonly string[]): Promise<MigrationSpecInput['source']> {
  await source.call('ACL', 'SETUSER', name, 'reset', 'on', '>acl-pw', ...rules);
  return {
    type: 'standalone',
    host: '127.0.0.1',
    port: source.options.port!,
    auth: { username: name, passwordEnv: 'RCO_TEST_ACL_PASSWORD' },
  };
}

async function expectCopied(spec: ClusterSpec): Promise<void> {
  const targets = masters(spec).map(adminAddress);
  const compared = await compareAllKeys([source], targets);
  expect(compared.differences).toEqual([]);
  expect(compared.compared).toBeGreaterThan(1000);
  expect(await keysOnlyInTarget([source], targets)).toEqual([]);
}

function streaming(spec: ClusterSpec) {
  return waitFor(
    'streaming',
    async () => {
      const sync = (await running.client.progress(migrationWorkflowId(spec.name))).migration?.sync;
      return sync?.every((s) => s.phase === 'streaming') ? true : undefined;
    },
    60_000,
  );
}

/** What the source denied since the last reset of its ACL LOG. */
async function denied(): Promise<string[]> {
  const entries = (await source.call('ACL', 'LOG')) as unknown[][];
  return entries.map((entry) => {
    const fields = new Map<string, unknown>();
    for (let i = 0; i < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
    return `${String(fields.get('username'))}: ${String(fields.get('object'))} (${String(fields.get('reason'))})`;
  });
}

// A read-only user's first batch tries MIGRATE (copyMode auto), which the source denies once: then the worker copies.
test.each([
  ['snapshot', SOURCE_ACL_RULES.snapshot, 'migrate', []],
  ['snapshotReadOnly', SOURCE_ACL_RULES.snapshotReadOnly, 'dump-restore', ['snapshotReadOnly: migrate (command)']],
] as const)('mode snapshot with exactly the %s rules: every key copied', async (name, rules, path, denials) => {
  await source.call('ACL', 'LOG', 'RESET');
  const spec = await renderedTopology(running.stack, `acl-${name.toLowerCase()}`);
  await running.client.provision({ ...spec, migration: { source: await userWith(name, rules) } });
  const result = await running.client.result(spec.name);
  expect(result.migration!.unequal).toEqual([]);
  expect(result.migration!.shards[0]!.mode).toBe(path);
  await expectCopied(spec);
  expect(await denied()).toEqual(denials);
});

/** A live migration with a source user of exactly `rules`, writes while it streams, a cutover, every key compared. */
async function liveWith(
  name: string,
  rules: readonly string[],
  liveMethod: 'psync' | 'notifications',
  denials: string[] = [],
) {
  await source.call('ACL', 'LOG', 'RESET');
  const spec = await provisionedTarget(running, `acl-${name}`);
  await running.client.migrate({
    ...spec,
    migration: { mode: 'live', liveMethod, source: await userWith(name, rules) },
  });
  await streaming(spec);
  for (let i = 0; i < 100; i++) await source.set(`acl:${name}:${i}`, `v${i}`);
  const report = await running.client.cutover(spec.name, { pauseBudgetMs: 2000, verify: 'all' });
  expect(report.done).toBe(true);
  expect(report.writePauseMs).toBeGreaterThan(0);
  await expectCopied(spec);
  expect(await denied()).toEqual(denials);
}

test('mode live with exactly the live rules: synced, cut over with a write pause, every key both ways, nothing denied', () =>
  liveWith('live', SOURCE_ACL_RULES.live, 'psync'));

test('mode live by notifications with exactly the notifications rules: cut over, every key both ways, only the preflight CONFIG GET denied', async () => {
  await source.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
  // The preflight asks CONFIG GET notify-keyspace-events, which these rules leave out (CONFIG GET also reads secrets):
  // denied once, and the check is skipped.
  await liveWith('notify', SOURCE_ACL_RULES.notifications, 'notifications', ['notify: config|get (command)']);
});

test('a cluster source, live, with exactly the live and cluster rules on every node: every key both ways', async () => {
  const { ports, nodes } = await startPlainCluster(path.join(running.stack.stateDir, 'acl-cluster'));
  try {
    const rules = [...SOURCE_ACL_RULES.live, ...SOURCE_ACL_RULES.cluster];
    for (const node of nodes) await node.call('ACL', 'SETUSER', 'clusterlive', 'reset', 'on', '>acl-pw', ...rules);
    const writer = new Cluster([{ host: '127.0.0.1', port: ports[0]! }]);
    for (let i = 0; i < 3000; i++) await writer.set(`c:${i}`, `v${i}`);
    writer.disconnect();
    const spec = await provisionedTarget(running, 'acl-cluster-live');
    await running.client.migrate({
      ...spec,
      migration: {
        mode: 'live',
        source: {
          type: 'cluster',
          nodes: [{ host: '127.0.0.1', port: ports[0]! }],
          auth: { username: 'clusterlive', passwordEnv: 'RCO_TEST_ACL_PASSWORD' },
        },
      },
    });
    await streaming(spec);
    const report = await running.client.cutover(spec.name, { pauseBudgetMs: 2000, verify: 'all' });
    expect(report.done).toBe(true);
    expect(report.paused).toHaveLength(3);
    const compared = await compareAllKeys(nodes, masters(spec).map(adminAddress));
    expect(compared.differences).toEqual([]);
    expect(compared.compared).toBe(3000);
    for (const node of nodes) expect(await node.call('ACL', 'LOG')).toEqual([]);
  } finally {
    for (const node of nodes) node.disconnect();
  }
});
