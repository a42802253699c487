import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

export function registerPause(program: Command): void {
  program
    .command('pause')
    .description(
      'pause the slot moves or the copying of a running run at its next chunk boundary (a few seconds; slots in flight are settled first)',
    )
    .argument('<run>', 'cluster name (whichever of its runs is running: migration, else provisioning) or a workflow id')
    .option('--json', 'JSON output')
    .action(async (run: string, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        const workflowId = await client.pause(run);
        if (options.json) printJson({ run: workflowId, paused: true });
        else console.log(`pause sent to ${workflowId}`);
      } finally {
        await client.close();
      }
    });
}
