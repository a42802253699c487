import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson, readSpecFile } from './common';
import { watchRun } from './watch';

export function registerProvision(program: Command): void {
  program
    .command('provision')
    .description('start provisionRedisCluster for a spec (or attach to its running run) and wait for the report')
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .option('--no-wait', 'return once the run is started')
    .option('--watch', 'show live progress while waiting')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { wait: boolean; watch?: boolean; json?: boolean }) => {
      const spec = readSpecFile(file);
      const client = await RedisClusterClient.connect();
      try {
        const handle = await client.provision(spec);
        if (!options.wait) {
          if (options.json) printJson({ workflowId: handle.workflowId });
          else console.log(`started ${handle.workflowId}`);
          return;
        }
        if (options.watch && !options.json) await watchRun(client, handle.workflowId);
        const result = await client.result(spec.name);
        if (options.json) return printJson(result);
        console.log(`cluster ${spec.name}: ${result.report.clusterState}, currentEpoch ${result.report.currentEpoch}`);
        for (const node of result.report.nodes)
          console.log(
            `  ${node.id.padEnd(4)} ${node.address.padEnd(22)} ${node.role.padEnd(8)} ${node.role === 'master' ? node.slots : `of ${node.replicaOf}`}`,
          );
      } finally {
        await client.close();
      }
    });
}
