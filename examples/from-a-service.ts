/**
 * Provisioning from another service: start (or attach to) the run for a spec, follow its progress, read the report.
 * Run: TEMPORAL_ADDRESS=127.0.0.1:7233 npx tsx examples/from-a-service.ts .local/demo/seed-cluster.local.json
 */
import { readFileSync } from 'node:fs';
import { RedisClusterClient } from '../src/client';

async function main(specFile: string): Promise<void> {
  const spec = JSON.parse(readFileSync(specFile, 'utf8'));
  const client = await RedisClusterClient.connect(); // TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, RCO_TASK_QUEUE
  try {
    const handle = await client.provision(spec); // starts, or attaches to the run already going for this cluster
    console.log(`run ${handle.workflowId}`);
    for (let status = await client.status(spec.name); status === 'RUNNING'; status = await client.status(spec.name)) {
      const progress = await client.progress(spec.name); // current step, each step's status and timing
      console.log(`step: ${progress.currentStep ?? '(between steps)'}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const { report } = await client.result(spec.name); // the cluster as built, or the failure thrown
    console.log(`cluster ${report.name}: ${report.clusterState}, ${report.nodes.length} nodes`);
    // Migrations: client.migrate(spec), then pause/resume/throttle(migrationWorkflowId(spec.name), ...), cancel(...)
  } finally {
    await client.close();
  }
}

main(process.argv[2] ?? '.local/demo/seed-cluster.local.json').catch((err) => {
  console.error(err);
  process.exit(1);
});
