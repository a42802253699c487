import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

export function registerList(program: Command): void {
  program
    .command('list')
    .description(
      'list runs, newest first, with the step each is on (RedisClusterStep; a drift check shows drift:<n> or no-drift)',
    )
    .option('--cluster <name>', 'only the runs of this cluster (search attribute RedisCluster)')
    .option('--query <visibility-query>', 'any Temporal visibility query, e.g. \'RedisClusterStep="migrateData"\'')
    .option('--json', 'JSON output')
    .action(async (options: { cluster?: string; query?: string; json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        const filters = [
          options.cluster ? `RedisCluster=${JSON.stringify(options.cluster)}` : undefined,
          options.query ? `(${options.query})` : undefined,
        ].filter(Boolean);
        const runs = await client.list(filters.length > 0 ? filters.join(' AND ') : undefined);
        if (options.json) return printJson(runs);
        if (runs.length === 0) console.log('no runs');
        for (const run of runs)
          console.log(`${run.workflowId.padEnd(40)} ${run.type.padEnd(22)} ${run.status.padEnd(10)} ${run.step ?? ''}`);
      } finally {
        await client.close();
      }
    });
}
