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
import { seedTopology, startStack, workflowBundle } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

async function main(): Promise<void> {
  const stack = await startStack('record');
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  const { worker, connection } = await createWorker({
    address: stack.temporal.address,
    workflowBundle: await workflowBundle(),
  });
  try {
    const spec = await seedTopology(stack, 'my-redis');
    const history = await worker.runUntil(async () => {
      await client.provision(spec);
      await client.result(spec.name);
      return client.handle(spec.name).fetchHistory();
    });
    const file = path.join(__dirname, 'histories', 'provision-seed.json');
    // The canonical proto JSON, the same format as `temporal workflow show --output json`.
    writeFileSync(file, JSON.stringify(JSON.parse(historyToJSON(history)), null, 1) + '\n');
    console.log(`wrote ${history.events?.length} events to ${path.relative(process.cwd(), file)}`);
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
