import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

export function registerResume(program: Command): void {
  program
    .command('resume')
    .description('resume paused slot moves or a paused migration')
    .argument('<run>', 'cluster name (whichever of its runs is running: migration, else provisioning) or a workflow id')
    .option('--json', 'JSON output')
    .action(async (run: string, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        const workflowId = await client.resume(run);
        if (options.json) printJson({ run: workflowId, paused: false });
        else console.log(`resume sent to ${workflowId}`);
      } finally {
        await client.close();
      }
    });
}
