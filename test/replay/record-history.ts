/**
 * Records the history of a real provisioning run (real S3 store, redis-server and Temporal dev server) into
 * test/replay/histories/, for the replay test. Run with `npm run record-history` after a deliberate workflow change.
 */
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { RedisClusterClient } from '../../src/client';
import { createWorker } from '../../src/worker';
import { fillEveryType } from '../../src/local/sample-data';
import { connectNode, withNode } from '../../src/redis/connection';
import type { ClusterSpecInput } from '../../src/model';
import { dayTwo } from '../helpers/day-two';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { waitFor } from '../helpers/wait';
import { freePortBlock, seedTopology, startStack, workflowBundle } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

async function main(): Promise<void> {
  const stack = await startStack('record');
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  const { worker, connection } = await createWorker({
    address: stack.temporal.address,
    workflowBundle: await workflowBundle(),
  });
  try {
    const record = async (name: string, spec: ClusterSpecInput) => {
      await client.provision(spec);
      await client.result(spec.name);
      const history = await client.handle(spec.name).fetchHistory();
      const file = path.join(__dirname, 'histories', `${name}.json`);
      // The canonical proto JSON, the same format as `temporal workflow show --output json`.
      writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n');
      console.log(`wrote ${history.events?.length} events to ${path.relative(process.cwd(), file)}`);
    };
    const save = async (workflowId: string, name: string) => {
      const history = await client.handle(workflowId).fetchHistory();
      const file = path.join(__dirname, 'histories', `${name}.json`);
      writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n');
      console.log(`wrote ${history.events?.length} events to ${path.relative(process.cwd(), file)}`);
    };
    // One worker run for every recording: a worker runs only once.
    await worker.runUntil(async () => {
      // RECORD_ONLY=repair or =drift records only those runs (the others stay as recorded by earlier code).
      const only = process.env.RECORD_ONLY;
      if (!only) await recordProvisioningAndMigrations();
      if (!only || only === 'repair') await recordDayTwo();
      if (!only || only === 'drift') await recordDriftCheck();
      if (!only || only === 'reshard') await recordReshard();
    });
    await stopTestServers();

    /**
     * A fifth master and its replica joining, then taken out again: slot moves in bounded calls, the run waiting for
     * the `remove` approval, the nodes forgotten, reset and stopped.
     */
    async function recordReshard(): Promise<void> {
      const spec = await seedTopology(stack, 'reshard');
      await client.provision(spec);
      await client.result(spec.name);
      const port = await freePortBlock(2);
      const like = (id: string) => spec.nodes.find((n) => n.id === id)!;
      const m5 = { ...like('m1'), id: 'm5', port, slots: ['15000-16383'], config: 'render:' };
      const r5 = { ...like('r1'), id: 'r5', port: port + 1, replicaOf: 'm5', config: 'render:' };
      const dataDir = path.join(stack.stateDir, 'reshard', 'data');
      const m4Slots = (slots: string[]) => spec.nodes.map((n) => (n.id === 'm4' ? { ...n, slots } : n));
      await client.provision({ ...spec, dataDir, nodes: [...m4Slots(['12288-14999']), m5, r5] });
      await client.result(spec.name);
      const shrunk = { ...spec, dataDir, remove: [m5, r5].map((n) => ({ host: n.host, port: n.port, stop: true })) };
      const handle = await client.provision(shrunk);
      await waitFor('the run to wait for remove', async () =>
        (await client.progress(spec.name)).waitingForApproval?.approval === 'remove' ? true : undefined,
      );
      await client.approve(spec.name, ['remove']);
      await client.result(spec.name);
      await save(handle.workflowId, 'provision-remove-nodes');
    }

    /** A drift check that finds a replica's nofailover turned off by hand. */
    async function recordDriftCheck(): Promise<void> {
      const spec = await seedTopology(stack, 'drift');
      await client.provision(spec);
      await client.result(spec.name);
      const r1 = spec.nodes.find((n) => n.id === 'r1')!;
      await withNode(r1, (c) => c.call('CONFIG', 'SET', 'cluster-replica-no-failover', 'no'));
      const check = await client.client.workflow.start('verifyRedisCluster', {
        taskQueue: 'redis-cluster',
        workflowId: 'redis-cluster-drift-drift-check',
        args: [spec],
      });
      await check.result();
      await save(check.workflowId, 'verify-drift');
    }

    /** A planned failover, then a repair of a master that lost its data, approved while it waits. */
    async function recordDayTwo(): Promise<void> {
      const spec = await seedTopology(stack, 'day-two');
      await client.provision(spec);
      await client.result(spec.name);
      const failover = await client.failover(spec, { master: 'm1' });
      await failover.result();
      await save(failover.workflowId, 'failover-planned');
      const d = dayTwo(spec, stack.stateDir);
      await d.killNode('m2', true);
      await d.waitForClusterFail();
      const repair = await client.repair(spec);
      for (const approval of ['takeover', 'forget'] as const) {
        await waitFor(`the repair to wait for ${approval}`, async () =>
          (await client.progress(repair.workflowId)).waitingForApproval?.approval === approval ? true : undefined,
        );
        await client.approve(spec.name, [approval]);
      }
      await repair.result();
      await save(repair.workflowId, 'repair-lost-master');
    }

    async function recordProvisioningAndMigrations(): Promise<void> {
      await record('provision-seed', await seedTopology(stack, 'my-redis'));
      // The same topology with data copied from a legacy Redis.
      const port = await freePortBlock(1);
      await startTestRedis(port, path.join(stack.stateDir, 'legacy'), ['--cluster-enabled', 'no']);
      const legacy = await connectNode({ host: '127.0.0.1', port });
      await fillEveryType(legacy);
      legacy.disconnect();
      const spec = await seedTopology(stack, 'with-data');
      await record('provision-with-migration', {
        ...spec,
        migration: { source: { type: 'standalone', host: '127.0.0.1', port } },
      });
      // Node-local steps on a host worker (one host here: 127.0.0.1, task queue redis-host-127.0.0.1).
      const host = await createWorker({ address: stack.temporal.address, host: '127.0.0.1' });
      await host.worker.runUntil(async () =>
        record('provision-host-workers', { ...(await seedTopology(stack, 'on-hosts')), hostWorkers: true }),
      );
      await host.connection.close();
      // A live migration into the first cluster: snapshot, stream, cutover (workflow migrateRedisData).
      const target = await seedTopology(stack, 'live-target');
      await client.provision(target);
      await client.result(target.name);
      const live = {
        ...target,
        migration: { mode: 'live' as const, source: { type: 'standalone' as const, host: '127.0.0.1', port } },
      };
      const handle = await client.migrate(live);
      for (;;) {
        const sync = (await client.progress(handle.workflowId).catch(() => undefined))?.migration?.sync;
        if (sync?.every((s) => s.phase === 'streaming')) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await client.cutover(handle.workflowId, { pauseBudgetMs: 1000 });
      await client.migrationResult(target.name);
      await save(handle.workflowId, 'migrate-live');
    }
  } finally {
    await connection.close();
    await client.close();
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
