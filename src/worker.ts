/** The worker: runs the workflows and every activity on task queue "redis-cluster". */
import { NativeConnection, Worker, type WorkerInterceptors } from '@temporalio/worker';
import { type ActivityDeps, createActivities } from './activities';
import { type TemporalSettings, temporalSettings } from './settings';

export interface WorkerOptions extends Partial<TemporalSettings> {
  deps?: ActivityDeps;
  /** Pre-bundled workflow code (tests bundle once); default: bundle src/workflows at start. */
  workflowBundle?: { code: string } | { codePath: string };
  /** Extra interceptors (the fault-injection tests hold an activity with one). */
  interceptors?: WorkerInterceptors;
}

export async function createWorker(
  options: WorkerOptions = {},
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const settings = temporalSettings(options);
  const connection = await NativeConnection.connect({ address: settings.address });
  const worker = await Worker.create({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    activities: createActivities(options.deps),
    interceptors: options.interceptors,
    // A prebuilt bundle (RCO_WORKFLOW_BUNDLE, written by `npm run build`, see scripts/bundle-workflows.ts) spares every worker start the
    // webpack run, its time and its memory.
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : process.env.RCO_WORKFLOW_BUNDLE
        ? { workflowBundle: { codePath: process.env.RCO_WORKFLOW_BUNDLE } }
        : { workflowsPath: require.resolve('./workflows') }),
  });
  return { worker, connection };
}

export async function runWorker(options: WorkerOptions = {}): Promise<void> {
  const { worker, connection } = await createWorker(options);
  const settings = temporalSettings(options);
  console.log(
    `worker polling task queue ${settings.taskQueue} on ${settings.address} (namespace ${settings.namespace})`,
  );
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  runWorker().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
