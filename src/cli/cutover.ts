import { InvalidArgumentError, type Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

function milliseconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 10 || n > 60_000) throw new InvalidArgumentError('a whole number from 10 to 60000');
  return n;
}

export function registerCutover(program: Command): void {
  program
    .command('cutover')
    .description(
      'live migration: verify, hold writes on the source masters (at most the budget) until the cluster has them all, stop the sync; prints the report',
    )
    .argument('<run>', 'cluster name (its running migration) or a workflow id')
    .option('--pause-budget-ms <ms>', 'longest write pause allowed on the sources', milliseconds, 1000)
    .option('--verify <what>', '"sample" (migration.verify.sample keys per shard) or "all"', 'sample')
    .option(
      '--writes-stopped',
      'you stopped the writes to the sources yourself: hold nothing (sources that do not allow CLIENT PAUSE)',
    )
    .option('--json', 'JSON output')
    .action(
      async (
        run: string,
        options: { pauseBudgetMs: number; verify: string; writesStopped?: boolean; json?: boolean },
      ) => {
        if (options.verify !== 'sample' && options.verify !== 'all')
          throw new InvalidArgumentError('--verify must be "sample" or "all"');
        const client = await RedisClusterClient.connect();
        try {
          const report = await client.cutover(run, {
            pauseBudgetMs: options.pauseBudgetMs,
            verify: options.verify,
            writesStopped: options.writesStopped,
          });
          if (options.json) return printJson(report);
          if (!report.done) {
            console.log(`not cut over: ${report.reason}`);
            process.exitCode = 3;
            return;
          }
          console.log(
            `cut over: writes held ${report.writePauseMs} ms${report.paused?.length ? ` on ${report.paused.join(', ')}` : ''}; ${report.keysVerified} keys verified, ${report.differences.length + report.differencesNotListed} differences`,
          );
          for (const o of report.offsets) console.log(`  ${o.shard}: stopped at offset ${o.source}`);
          if (report.guarantee) console.log(`  shown: ${report.guarantee}`);
        } finally {
          await client.close();
        }
      },
    );
}
