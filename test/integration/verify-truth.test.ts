/**
 * Verify tells the truth (issue: a snapshot copy of a source taking writes ended COMPLETED with `unequal: []` while
 * thousands of keys differed). Real servers: a standalone source of 100,000 keys, a bounded deterministic write load
 * of 3,000 commands/s (overwrite, delete, create), the real worker, two freshly provisioned target clusters.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import type Redis from 'ioredis';
import { migrationWorkflowId } from '../../src/client';
import { type ClusterSpec, ErrorType, adminAddress, masters } from '../../src/model';
import type { MigrationReport } from '../../src/workflows/verify-phase';
import { compareAllKeys, keysOnlyInTarget } from '../helpers/dataset';
import { rootApplicationFailure } from '../helpers/failures';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { seedTopology, startPlainSource } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { startWriteLoad, stringMix } from '../helpers/write-load';

Runtime.install({ logger: new DefaultLogger('WARN') });

const KEYS = 100_000;
let running: RunningStack;

beforeAll(async () => {
  running = await startRunningStack('verify-truth');
});

afterAll(async () => {
  await running?.stop();
});

async function filledSource(name: string): Promise<Redis> {
  const source = await startPlainSource(running.stack, name);
  for (let start = 0; start < KEYS; start += 10_000) {
    const pipeline = source.pipeline();
    for (let i = start; i < start + 10_000; i++) pipeline.set(`key:${i}`, `value-${i}`);
    await pipeline.exec();
  }
  return source;
}

async function provisioned(name: string): Promise<ClusterSpec> {
  const spec = await seedTopology(running.stack, name);
  await running.client.provision(spec);
  await running.client.result(spec.name);
  return spec;
}

const targetMasters = (spec: ClusterSpec) => masters(spec).map(adminAddress);

test('a source that keeps taking writes through copy and verify: the run fails with DataVerifyFailed and lists what differs', async () => {
  const source = await filledSource('busy-source');
  const spec = await provisioned('busy-target');
  const { client } = running;
  await client.migrate({
    ...spec,
    migration: { source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! }, verify: { rounds: 1 } },
  });
  // Bounded so that the comparison afterwards stays small on a slow machine (a run took 96 s in one CI run, 15 s
  // here), yet it writes through every pass.
  const load = startWriteLoad(source.duplicate(), {
    opsPerSecond: 1000,
    maxSeconds: 200,
    mix: stringMix('key:', KEYS),
  });
  const failure = await client.migrationResult(spec.name).then(
    () => {
      throw new Error('the migration succeeded while its source kept changing');
    },
    (err: unknown) => rootApplicationFailure(err),
  );
  const stats = await load.stop();
  console.log(`load: ${stats.ops} writes in ${stats.seconds.toFixed(1)} s; failure: ${failure.message.slice(0, 300)}`);

  expect(failure.type).toBe(ErrorType.DataVerifyFailed);
  expect(failure.nonRetryable).toBe(true);
  const report = failure.details?.[0] as MigrationReport;
  // Writes kept landing while it verified: two passes (the first and `rounds` more), then it says it cannot tell.
  expect(failure.message).toContain('the source kept taking writes through 2 verification passes');
  expect(failure.message).toMatch(/while it was verified: 127\.0\.0\.1:\d+ took \d+ write\(s\)/);
  expect(report.notes?.some((n) => n.includes('while it was verified'))).toBe(true);
  expect(report.sourceChanges?.[0]?.writes).toBeGreaterThan(0); // during the copy too
  // Every key listed is one the load wrote: differences caused by writes, not by the copy.
  const listed = report.unequal.filter((u) => u.shard !== 'target').map((u) => u.key);
  expect(listed.filter((key) => !stats.touched.has(key))).toEqual([]);
  // And the target really differs from the source, compared key by key from outside.
  const { differences } = await compareAllKeys([source], targetMasters(spec));
  const extra = await keysOnlyInTarget([source], targetMasters(spec));
  expect(differences.length + extra.length).toBeGreaterThan(0);
  source.disconnect();
}, 360_000);

test('writes during the copy only: verify finds the changed, new and deleted keys, fixes them, and the report says why', async () => {
  const source = await filledSource('settling-source');
  const spec = await provisioned('settling-target');
  const { client } = running;
  const id = migrationWorkflowId(spec.name);
  await client.migrate({
    ...spec,
    migration: {
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
      keysPerSecond: 10_000, // about 10 s of copying, so that the writes land in the middle of it
    },
  });
  // The copy has started once its shards show: the plan (which stamps the source's writes first) is done by then.
  await waitFor('copying to start', async () =>
    (await client.progress(id)).migration?.shards?.[0] ? true : undefined,
  );
  const load = startWriteLoad(source.duplicate(), {
    opsPerSecond: 3000,
    maxSeconds: 3,
    mix: stringMix('key:', KEYS),
  });
  const stats = await load.done;
  const copying = (await client.progress(id)).steps.find((s) => s.name === 'migrateData')!;
  expect(copying.status).toBe('running'); // the writes ended before the copy did
  const result = await client.migrationResult(spec.name);
  const report = result.migration;
  console.log(
    `load: ${stats.ops} writes; recopied ${report.recopied}, extra keys removed ${report.extraKeysRemoved}; notes: ${report.notes?.join(' ')}`,
  );
  expect(report.unequal).toEqual([]);
  expect(report.unequalNotListed).toBe(0);
  expect(report.recopied).toBeGreaterThan(0);
  expect(report.extraKeysRemoved).toBeGreaterThan(0); // keys deleted from the source after they were copied
  expect(report.sourceChanges?.[0]?.writes).toBeGreaterThanOrEqual(stats.ops * 0.9);
  expect(report.notes?.[0]).toContain('the source changed while it was copied');

  const { compared, differences } = await compareAllKeys([source], targetMasters(spec));
  expect(differences).toEqual([]);
  expect(compared).toBe(await source.dbsize());
  expect(await keysOnlyInTarget([source], targetMasters(spec))).toEqual([]);
  source.disconnect();
});
