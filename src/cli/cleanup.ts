import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson, readSpecFile } from './common';

export function registerCleanup(program: Command): void {
  program
    .command('cleanup')
    .description(
      'remove the keys that ended runs left in the cluster (copy checkpoints, live-sync state); refused while a run of the cluster is active',
    )
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { json?: boolean }) => {
      const spec = readSpecFile(file);
      const client = await RedisClusterClient.connect();
      try {
        const removed = await client.cleanup(spec);
        if (options.json) printJson(removed);
        else
          console.log(
            removed.removed === 0
              ? `cluster ${spec.name}: nothing left by earlier runs`
              : `cluster ${spec.name}: removed ${removed.removed} key(s) of ${removed.runs.length} ended run(s): ${removed.runs.join(', ')}`,
          );
      } finally {
        await client.close();
      }
    });
}
