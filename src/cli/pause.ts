import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

export function registerPause(program: Command): void {
  program
    .command('pause')
    .description('pause the copying of a running migration at its next chunk boundary (a few seconds)')
    .argument('<run>', 'cluster name (its provisioning run) or a workflow id such as redis-cluster-<name>-migration')
    .option('--json', 'JSON output')
    .action(async (run: string, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        await client.pause(run);
        if (options.json) printJson({ run, paused: true });
        else console.log(`pause sent to ${client.handle(run).workflowId}`);
      } finally {
        await client.close();
      }
    });
}
