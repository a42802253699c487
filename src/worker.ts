/**
 * The worker. By default it runs the workflows and every activity on task queue "redis-cluster". With a host
 * (`--host <host>` or RCO_WORKER_HOST) it is a host worker: it runs only the node-local activities (write configs,
 * start redis-server) of the nodes on that host, on task queue `redis-host-<host>`, and no workflows.
 */
import { NativeConnection, Worker, type WorkerInterceptors } from '@temporalio/worker';
import { type ActivityDeps, type Activities, createActivities } from './activities';
import { type TemporalSettings, temporalSettings } from './settings';
import { ErrorType, hostTaskQueue } from './model';
import { fail } from './runtime/context';
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
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const settings = temporalSettings(options);
  const connection = await NativeConnection.connect({ ...settings.connection, address: settings.address });
  const all = createActivities(options.deps);
  const activities = (options.clusterOnly ?? process.env.RCO_CLUSTER_ONLY === '1') ? clusterOnlyActivities(all) : all;
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    interceptors: options.interceptors,
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
  return { worker, connection };
}

export async function runWorker(options: WorkerOptions = {}): Promise<void> {
  const telemetry = telemetrySettings();
  installRuntime(telemetry);
  const { worker, connection } = await createWorker(options);
  const settings = temporalSettings(options);
  const queue = options.host ? hostTaskQueue(options.host) : settings.taskQueue;
  const metrics = telemetry.metricsAddress ? `; metrics on http://${telemetry.metricsAddress}/metrics` : '';
  console.log(`worker polling task queue ${queue} on ${settings.address} (namespace ${settings.namespace})${metrics}`);
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
