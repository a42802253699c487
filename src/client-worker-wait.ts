/**
 * Is a run waiting for a worker? Its pending tasks (scheduled, not picked up) and the last polls of its task queue,
 * read from Temporal, judged by workerWait (model): the progress query cannot say it when no worker answers it.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { type PendingTask, SHARD_ACTIVITIES, type WorkerWait, shardTaskQueue, workerWait } from './model';

export async function waitingForWorker(
  client: Client,
  namespace: string,
  handle: WorkflowHandle,
  budgetMs: number,
): Promise<WorkerWait | undefined> {
  const { raw, status, taskQueue } = await handle.describe();
  if (status.name !== 'RUNNING') return undefined;
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : undefined;
  const SCHEDULED = 1; // PENDING_ACTIVITY_STATE_SCHEDULED, PENDING_WORKFLOW_TASK_STATE_SCHEDULED
  const pending: PendingTask[] = (raw.pendingActivities ?? []).map((a) => ({
    name: a.activityType?.name ?? 'an activity',
    scheduledAt: Number(a.state) === SCHEDULED ? ms(a.lastAttemptCompleteTime ?? a.scheduledTime) : undefined,
    attempt: a.attempt ?? undefined,
  }));
  const task = raw.pendingWorkflowTask;
  if (task && Number(task.state) === SCHEDULED)
    pending.push({ name: 'the workflow task', scheduledAt: ms(task.scheduledTime), attempt: task.attempt ?? 1 });
  const pollers = async (name: string, taskQueueType: number) =>
    (
      await client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name },
        taskQueueType,
      })
    ).pollers ?? [];
  // Task queue types: 1 workflow, 2 activity. Shard copies and syncs wait on the shard queue (worker.ts).
  const polled = [...(await pollers(taskQueue, 1)), ...(await pollers(taskQueue, 2))].map(
    (p) => ms(p.lastAccessTime) ?? 0,
  );
  const onShards = (t: PendingTask) => (SHARD_ACTIVITIES as readonly string[]).includes(t.name);
  const main = workerWait(
    taskQueue,
    pending.filter((t) => !onShards(t)),
    polled,
    Date.now(),
    { budgetMs },
  );
  if (main || !pending.some(onShards)) return main;
  const shards = shardTaskQueue(taskQueue);
  const shardPolls = (await pollers(shards, 2)).map((p) => ms(p.lastAccessTime) ?? 0);
  // A notifications chunk may wait on its worker's own queue (redis-cluster-shards@<worker>) instead: Temporal's
  // pending-activity record does not say which queue, and such a wait ends within 15 s, under the budget.
  return workerWait(shards, pending.filter(onShards), shardPolls, Date.now(), { budgetMs, shards: true });
}
