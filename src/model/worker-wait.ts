/**
 * A run that waits for a worker: read from the Temporal server alone (the run's pending tasks and the task queue's
 * pollers), since a progress query needs a worker to answer it. Pure: the reading is in src/client.ts.
 */

/** How long a task may wait for a worker before a run counts as stuck on it (a worker takes one within a second). */
export const WORKER_PICKUP_BUDGET_MS = 30_000;

/** A poll is a long poll of up to about a minute: a worker that polled within this is alive. */
export const POLLER_ALIVE_MS = 90_000;

export interface PendingTask {
  /** An activity type, or "workflow task". */
  name: string;
  /** When it was scheduled (ms), if it is waiting to start; undefined when a worker runs it. */
  scheduledAt?: number;
  attempt?: number;
}

export interface WorkerWait {
  taskQueue: string;
  task: string;
  waitedSeconds: number;
  /** Workers that polled the queue recently (0: none, so nothing can take the task). */
  pollers: number;
  message: string;
}

function duration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  return m > 0 ? `${m}m ${seconds % 60}s` : `${seconds}s`;
}

/**
 * The task that has waited longest for a worker past the budget, said plainly; undefined when none has. `shards`: the
 * queue is the shard queue, whose workers each take at most --max-shards tasks.
 */
export function workerWait(
  taskQueue: string,
  pending: PendingTask[],
  pollerLastAccess: number[],
  now: number,
  { budgetMs = WORKER_PICKUP_BUDGET_MS, shards = false }: { budgetMs?: number; shards?: boolean } = {},
): WorkerWait | undefined {
  const waiting = pending
    .filter((t) => t.scheduledAt !== undefined && now - t.scheduledAt > budgetMs)
    .sort((a, b) => a.scheduledAt! - b.scheduledAt!)[0];
  if (!waiting) return undefined;
  const waitedSeconds = Math.round((now - waiting.scheduledAt!) / 1000);
  const pollers = pollerLastAccess.filter((at) => now - at <= POLLER_ALIVE_MS).length;
  const what = `${waiting.name}${waiting.attempt && waiting.attempt > 1 ? ` (attempt ${waiting.attempt})` : ''}`;
  const message =
    pollers === 0
      ? `no worker is polling task queue ${taskQueue}: ${what} has waited ${duration(waitedSeconds)} for one (start a worker: npm run worker, or rco worker)`
      : `${what} has waited ${duration(waitedSeconds)} on task queue ${taskQueue}, which ${pollers} worker(s) poll: they are busy or cannot run it${shards ? ' (each runs at most --max-shards shards at once: add a worker, or raise it)' : ''}`;
  return { taskQueue, task: waiting.name, waitedSeconds, pollers, message };
}
