/**
 * The worker. By default it runs the workflows and every activity on task queue "redis-cluster", and the data plane
 * (snapshot copies and live syncs, one task per shard and chunk) on "redis-cluster-shards", at most `maxShards` at
 * once: more workers, on more machines, share the shards of a migration. With a host (`--host <host>` or
 * RCO_WORKER_HOST) it is a host worker: it runs only the node-local activities (write configs, start redis-server) of
 * the nodes on that host, on task queue `redis-host-<host>`, and no workflows.
 */
import { availableParallelism } from 'node:os';
import { NativeConnection, Worker, type WorkerInterceptors } from '@temporalio/worker';
import { type ActivityDeps, type Activities, createActivities } from './activities';
import { type TemporalSettings, temporalSettings } from './settings';
import { ErrorType, SHARD_ACTIVITIES, hostTaskQueue, shardTaskQueue, workerShardQueue } from './model';
import { fail, workerIdentity } from './runtime/context';
import { installRuntime, telemetrySettings } from './runtime/telemetry';

export interface WorkerOptions extends Partial<TemporalSettings> {
  deps?: ActivityDeps;
  /** Pre-bundled workflow code (tests bundle once); default: bundle src/workflows at start. */
  workflowBundle?: { code: string } | { codePath: string };
  /** Extra interceptors (the fault-injection tests hold an activity with one). */
  interceptors?: WorkerInterceptors;
  /** Serve this host's node-local activities only (spec hostWorkers). */
  host?: string;
  /**
   * Serve everything but the node-local steps (RCO_CLUSTER_ONLY=1): a worker in a container, which must not start
   * redis-server inside it; specs then need hostWorkers, with a host worker on each Redis host.
   */
  clusterOnly?: boolean;
  /** Shard copies and syncs this worker runs at once (`--max-shards`, RCO_MAX_SHARDS); default: 4 per CPU. */
  maxShards?: number;
}

/**
 * A shard sync holds its slot for a whole chunk and follows its source back to back: a live migration needs a slot for
 * each source shard over all workers, or its shards take turns (a chunk each) and a cutover waits for a turn. Four per
 * CPU: one worker runs the common sources (up to 3-6 masters) alone, as before, and a second one takes the rest.
 */
export function defaultMaxShards(): number {
  const configured = Number(process.env.RCO_MAX_SHARDS);
  return Number.isInteger(configured) && configured > 0 ? configured : 4 * availableParallelism();
}

/** The Temporal workers of one process, run and stopped together. */
export class WorkerGroup {
  constructor(readonly workers: Worker[]) {}

  async run(): Promise<void> {
    // One stopping (a fatal error) stops the others: the process is then one worker less, not half of one.
    await Promise.all(this.workers.map((w) => w.run().finally(() => this.shutdown())));
  }

  shutdown(): void {
    for (const w of this.workers) if (w.getState() === 'RUNNING') w.shutdown();
  }

  /** Runs until `fn` (or the promise) settles, then stops (as Worker.runUntil). */
  async runUntil<T>(fn: (() => Promise<T>) | Promise<T>): Promise<T> {
    const running = this.run();
    try {
      return await (typeof fn === 'function' ? fn() : fn);
    } finally {
      this.shutdown();
      await running;
    }
  }
}

/** What a host worker runs: the activities that must run on the node's own machine. */
const NODE_LOCAL_ACTIVITIES = ['fetchConfigs', 'startNodes'] as const;

/** The activities with the node-local ones refusing, saying what to do instead. */
export function clusterOnlyActivities(activities: Activities): Activities {
  const refused = Object.fromEntries(
    NODE_LOCAL_ACTIVITIES.map((name) => [
      name,
      async () =>
        fail(
          ErrorType.InvalidSpec,
          `hostWorkers: this worker runs only cluster-wide steps (RCO_CLUSTER_ONLY), so it does not write configs or start redis-server; set "hostWorkers": true in the spec and run a host worker on each Redis host (rco worker --host <host>)`,
        ),
    ]),
  );
  return { ...activities, ...refused };
}

export async function createWorker(
  options: WorkerOptions = {},
): Promise<{ worker: WorkerGroup; connection: NativeConnection }> {
  const settings = temporalSettings(options);
  const connection = await NativeConnection.connect({ ...settings.connection, address: settings.address });
  const all = createActivities(options.deps);
  const activities = (options.clusterOnly ?? process.env.RCO_CLUSTER_ONLY === '1') ? clusterOnlyActivities(all) : all;
  const identity = workerIdentity();
  const common = { connection, namespace: settings.namespace, interceptors: options.interceptors, identity };
  // The shared shard queue, and this worker's own (the next chunks of the notifications syncs it holds).
  const shardQueues = [shardTaskQueue(settings.taskQueue), workerShardQueue(settings.taskQueue, identity)];
  const shards = options.host
    ? []
    : await Promise.all(
        shardQueues.map((taskQueue) =>
          Worker.create({
            ...common,
            taskQueue,
            activities: Object.fromEntries(SHARD_ACTIVITIES.map((name) => [name, activities[name]])),
            maxConcurrentActivityTaskExecutions: options.maxShards ?? defaultMaxShards(),
          }),
        ),
      );
  const main = await Worker.create({
    ...common,
    ...(options.host
      ? {
          // A host worker: the node-local activities of this host, no workflows.
          taskQueue: hostTaskQueue(options.host),
          activities: Object.fromEntries(NODE_LOCAL_ACTIVITIES.map((name) => [name, activities[name]])),
        }
      : {
          taskQueue: settings.taskQueue,
          activities,
          // A prebuilt bundle (RCO_WORKFLOW_BUNDLE, written by `npm run build`) spares every worker start the
          // webpack run, its time and its memory.
          ...(options.workflowBundle
            ? { workflowBundle: options.workflowBundle }
            : process.env.RCO_WORKFLOW_BUNDLE
              ? { workflowBundle: { codePath: process.env.RCO_WORKFLOW_BUNDLE } }
              : { workflowsPath: require.resolve('./workflows') }),
        }),
  });
  return { worker: new WorkerGroup([main, ...shards]), connection };
}

export async function runWorker(options: WorkerOptions = {}): Promise<void> {
  const telemetry = telemetrySettings();
  installRuntime(telemetry);
  const { worker, connection } = await createWorker(options);
  const settings = temporalSettings(options);
  const queues = options.host
    ? hostTaskQueue(options.host)
    : `${settings.taskQueue} and ${shardTaskQueue(settings.taskQueue)} (at most ${options.maxShards ?? defaultMaxShards()} shards at once)`;
  const metrics = telemetry.metricsAddress ? `; metrics on http://${telemetry.metricsAddress}/metrics` : '';
  console.log(
    `worker polling task queue ${queues} on ${settings.address} (namespace ${settings.namespace}) as ${workerIdentity()}${metrics}`,
  );
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  const flag = process.argv.indexOf('--host');
  runWorker({ host: flag > 0 ? process.argv[flag + 1] : process.env.RCO_WORKER_HOST || undefined }).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
