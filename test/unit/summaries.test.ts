/** The one-line summaries runs and activity calls carry for the UI. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type ClusterSpec, activitySummary, localizeSpec, runSummary } from '../../src/model';

const spec: ClusterSpec = localizeSpec(
  JSON.parse(readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8')),
  { configDir: '/etc/redis' },
);

test('each step names its target', () => {
  expect(activitySummary('assignSlots', [spec])).toBe('m1 0-4095, m2 4096-8191, m3 8192-12287, m4 12288-16383');
  expect(activitySummary('replicateNodes', [spec])).toBe('r1→m3, r2→m1, r3→m4, r4→m2');
  expect(activitySummary('startNodes', [spec, 'keep-lost'])).toMatch(/among m1, m2, .* r4 \(keep-lost\)$/);
  expect(activitySummary('takeoverMasters', [spec, ['21a8a7eb876e3ed48a06241a2c013867ecfb9859']])).toBe(
    'takeover of lost node(s) 21a8a7eb',
  );
  expect(activitySummary('failoverMaster', [spec, { master: 'm1', force: true }])).toBe('takeover of m1');
  const shard = { id: '10.0.0.5:6379/db0' };
  expect(activitySummary('copyShardChunk', [{ spec, shard, cursor: '42', counters: { copied: 1000 } }])).toBe(
    'copy 10.0.0.5:6379/db0 from cursor 42 (1000 keys so far)',
  );
  expect(activitySummary('someActivity', [])).toBeUndefined();
});

test('each run says what it does', () => {
  expect(runSummary('provisionRedisCluster', spec)).toBe(`provision cluster ${spec.name} (8 nodes)`);
  expect(
    runSummary('migrateRedisData', {
      ...spec,
      migration: { mode: 'live', source: { type: 'standalone' } } as unknown as ClusterSpec['migration'],
    }),
  ).toBe(`live migration of standalone data into cluster ${spec.name}`);
  expect(runSummary('repairRedisCluster', spec)).toBe(`repair cluster ${spec.name} to its spec (8 nodes)`);
});
