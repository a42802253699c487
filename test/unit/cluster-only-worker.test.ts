/** A cluster-only worker (the compose shape) refuses the node-local steps, saying what to do instead. */
import { ApplicationFailure } from '@temporalio/common';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createActivities } from '../../src/activities';
import { localizeSpec } from '../../src/model';
import { clusterOnlyActivities } from '../../src/worker';

test('fetchConfigs and startNodes fail for good, naming hostWorkers; the cluster-wide steps are untouched', async () => {
  const all = createActivities();
  const activities = clusterOnlyActivities(all);
  const spec = localizeSpec(
    JSON.parse(readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8')),
    { configDir: '/tmp/rco-unit/etc' },
  );
  for (const step of [() => activities.fetchConfigs(spec), () => activities.startNodes(spec)]) {
    const failure = await step().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'InvalidSpec', nonRetryable: true });
    expect((failure as Error).message).toMatch(/set "hostWorkers": true in the spec and run a host worker/);
  }
  expect(activities.assignSlots).toBe(all.assignSlots);
  expect(activities.verifyCluster).toBe(all.verifyCluster);
});
