import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

export function registerResume(program: Command): void {
  program
    .command('resume')
    .description('resume a paused migration')
    .argument('<run>', 'cluster name (its provisioning run) or a workflow id such as redis-cluster-<name>-migration')
    .option('--json', 'JSON output')
    .action(async (run: string, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        await client.resume(run);
        if (options.json) printJson({ run, paused: false });
        else console.log(`resume sent to ${client.handle(run).workflowId}`);
      } finally {
        await client.close();
      }
    });
}
