/** A stack with the real worker running in this process and a client: what most integration tests need. */
import { RedisClusterClient } from '../../src/client';
import { createWorker } from '../../src/worker';
import { stopTestServers } from './servers';
import { type Stack, startStack, workflowBundle } from './stack';

export interface RunningStack {
  stack: Stack;
  client: RedisClusterClient;
  stop(): Promise<void>;
}

export async function startRunningStack(prefix: string): Promise<RunningStack> {
  const stack = await startStack(prefix);
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  const { worker, connection } = await createWorker({
    address: stack.temporal.address,
    workflowBundle: await workflowBundle(),
  });
  const running = worker.run();
  return {
    stack,
    client,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
      await client.close();
      await stopTestServers();
      await stack.stop();
    },
  };
}
