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
import { connectNode } from '../../src/redis/connection';
import type { ClusterSpecInput } from '../../src/model';
import { startTestRedis, stopTestServers } from '../helpers/servers';
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
    // One worker run for both recordings: a worker runs only once.
    await worker.runUntil(async () => {
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
      const history = await client.handle(handle.workflowId).fetchHistory();
      const file = path.join(__dirname, 'histories', 'migrate-live.json');
      writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n');
      console.log(`wrote ${history.events?.length} events to ${path.relative(process.cwd(), file)}`);
    });
    await stopTestServers();
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
