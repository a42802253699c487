/**
 * Plan and apply share one decision per step: on clusters left half-finished (the steps applied one by one, stopped
 * after each), `rco plan`'s list of changes must be exactly what the next run then reports it changed; and a replica
 * that owns slots is refused by both, before anything changes. Real redis-servers, S3 store and worker.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';
import path from 'node:path';
import type { RedisClusterClient } from '../../src/client';
import { withSpecAccess } from '../../src/cluster/access';
import { fetchConfigs } from '../../src/cluster/configs';
import { assignSlots, formCluster } from '../../src/cluster/form';
import { planProvisioning } from '../../src/cluster/inspect';
import { startNodes } from '../../src/cluster/nodes';
import { inspectNodes } from '../../src/cluster/preflight';
import { replicateNodes } from '../../src/cluster/replicate';
import { type ClusterSpec, ErrorType, type PlannedChange, adminAddress, masters } from '../../src/model';
import { withNode } from '../../src/redis/connection';
import { defaultS3ClientFactory } from '../../src/s3/client';
import { seedConfigs } from '../../src/local/seed';
import { rootApplicationFailure } from '../helpers/failures';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { seedTopology, stopRedisNodes } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

/** The steps a run applies, in order, called directly (not through a workflow): a run stopped after the k-th. */
const STEPS: [string, (spec: ClusterSpec) => Promise<unknown>][] = [
  ['inspectNodes', inspectNodes],
  ['fetchConfigs', (spec) => fetchConfigs(spec, defaultS3ClientFactory)],
  ['startNodes', startNodes],
  ['assignSlots', assignSlots],
  ['formCluster', formCluster],
  ['replicateNodes', replicateNodes],
];

let running: RunningStack;
let client: RedisClusterClient;

beforeAll(async () => {
  running = await startRunningStack('plan-run');
  client = running.client;
});

afterAll(async () => {
  await running?.stop();
});

/** The seed topology, with replica configs that lack nofailover (so that setNoFailover has work to do too). */
async function topology(name: string): Promise<ClusterSpec> {
  const spec = await seedTopology(running.stack, name);
  await seedConfigs({ ...spec, nofailover: false }, running.stack.s3.address, path.join(running.stack.stateDir, name));
  return spec;
}

const withoutMigration = (changes: PlannedChange[]) => changes.filter((c) => c.step !== 'migrateData');

test.each([0, 1, 2, 3, 4, 5, 6])(
  'stopped after %i step(s): the plan lists exactly what the next run changes',
  async (stepsDone) => {
    const name = `half-${stepsDone}`;
    const spec = await topology(name);
    try {
      for (const [, step] of STEPS.slice(0, stepsDone)) await withSpecAccess(spec, () => step(spec));
      const plan = await planProvisioning(spec);
      expect(plan.refusals).toEqual([]);
      await client.provision(spec);
      const result = await client.result(spec.name);
      const changed = result.steps.flatMap(
        (s) => (s.result as { changes?: PlannedChange[] } | undefined)?.changes ?? [],
      );
      expect(changed.length).toBeGreaterThan(0); // setNoFailover at least
      expect(withoutMigration(plan.changes)).toEqual(changed);
      // And once it ran: nothing left to change.
      expect(withoutMigration((await planProvisioning(spec)).changes)).toEqual([]);
    } finally {
      await stopRedisNodes(path.join(running.stack.stateDir, name));
    }
  },
);

test('a replica that owns slots: plan shows the refusal, and the run refuses it before changing anything', async () => {
  const name = 'replica-slots';
  const spec = await topology(name);
  try {
    for (const [, step] of STEPS.slice(0, 3)) await withSpecAccess(spec, () => step(spec));
    const r1 = spec.nodes.find((n) => n.id === 'r1')!;
    await withNode(adminAddress(r1), (c) => c.call('CLUSTER', 'ADDSLOTSRANGE', '0', '99'));
    const plan = await planProvisioning(spec);
    const expected = `r1 (127.0.0.1:${r1.port}) owns slots 0-99, but the spec makes it a replica, which owns none`;
    expect(plan.refusals).toEqual([expect.stringContaining(expected)]);

    await client.provision(spec);
    const failure = await client.result(spec.name).then(
      () => {
        throw new Error('the run went on with a replica owning slots');
      },
      (err: unknown) => rootApplicationFailure(err),
    );
    expect(failure.type).toBe(ErrorType.TopologyConflict);
    expect(failure.message).toContain(expected);
    // Refused in the preflight: no master got a slot, none met another.
    for (const master of masters(spec))
      await withNode(adminAddress(master), async (c) => {
        expect(await c.call('CLUSTER', 'COUNTKEYSINSLOT', '0')).toBe(0);
        expect(String(await c.call('CLUSTER', 'INFO'))).toContain('cluster_slots_assigned:0');
        expect(String(await c.call('CLUSTER', 'INFO'))).toContain('cluster_known_nodes:1');
      });
  } finally {
    await stopRedisNodes(path.join(running.stack.stateDir, name));
  }
});
