/** The worker: runs the workflows and every activity on task queue "redis-cluster". */
import { NativeConnection, Worker } from '@temporalio/worker';
import { type ActivityDeps, createActivities } from './activities';
import { type TemporalSettings, temporalSettings } from './settings';

export interface WorkerOptions extends Partial<TemporalSettings> {
  deps?: ActivityDeps;
  /** Pre-bundled workflow code (tests bundle once); default: bundle src/workflows at start. */
  workflowBundle?: { code: string } | { codePath: string };
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
    // A prebuilt bundle (RCO_WORKFLOW_BUNDLE, see scripts/bundle-workflows.ts) spares every worker start the
    // webpack run, its time and its memory.
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : process.env.RCO_WORKFLOW_BUNDLE
        ? { workflowBundle: { codePath: process.env.RCO_WORKFLOW_BUNDLE } }
        : { workflowsPath: require.resolve('./workflows') }),
  });
  return { worker, connection };
}

async function run(): Promise<void> {
  const { worker, connection } = await createWorker();
  const settings = temporalSettings();
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
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
