/** A stack with the real worker running in this process and a client: what most integration tests need. */
import { RedisClusterClient } from '../../src/client';
import { createWorker } from '../../src/worker';
import { stopTestServers } from './servers';
import type { ClusterSpec } from '../../src/model';
import { type Stack, renderedTopology, startStack, workflowBundle } from './stack';

export interface RunningStack {
  stack: Stack;
  client: RedisClusterClient;
  stop(): Promise<void>;
}

/** The real worker (workflows and every activity), running in this process; returns how to stop it. */
export async function runWorkerHere(address: string): Promise<() => Promise<void>> {
  const { worker, connection } = await createWorker({ address, workflowBundle: await workflowBundle() });
  const running = worker.run();
  return async () => {
    worker.shutdown();
    await running;
    await connection.close();
  };
}

export async function startRunningStack(
  prefix: string,
  options: Parameters<typeof startStack>[1] = {},
): Promise<RunningStack> {
  const stack = await startStack(prefix, options);
  const client = await RedisClusterClient.connect({ address: stack.temporal.address });
  const stopWorker = await runWorkerHere(stack.temporal.address);
  return {
    stack,
    client,
    async stop() {
      await stopWorker();
      await client.close();
      await stopTestServers();
      await stack.stop();
    },
  };
}

/** A provisioned target: the seed topology with rendered configs, named `name`. */
export async function provisionedTarget(running: RunningStack, name: string): Promise<ClusterSpec> {
  const spec = await renderedTopology(running.stack, name);
  await running.client.provision(spec);
  await running.client.result(spec.name);
  return spec;
}
