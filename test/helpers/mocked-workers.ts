/** Workers with mocked activities for workflow tests: the workflow's task queue and its shard queue, as the real one. */
import { type NativeConnection, Worker } from '@temporalio/worker';
import { shardTaskQueue } from '../../src/model';
import { WorkerGroup } from '../../src/worker';
import { workflowBundle } from './stack';

export async function mockedWorkers(
  connection: NativeConnection,
  taskQueue: string,
  activities: object,
): Promise<WorkerGroup> {
  const main = await Worker.create({ connection, taskQueue, workflowBundle: await workflowBundle(), activities });
  const shards = await Worker.create({ connection, taskQueue: shardTaskQueue(taskQueue), activities });
  return new WorkerGroup([main, shards]);
}
