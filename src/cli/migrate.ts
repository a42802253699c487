import type { Command } from 'commander';
import { RedisClusterClient, migrationWorkflowId } from '../client';
import { printJson, readSpecFile } from './common';
import { watchRun } from './watch';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description("copy the spec's migration source into the existing cluster it names (migrateRedisData)")
    .argument('<spec>', 'cluster spec with a migration section, JSON or YAML')
    .option('--no-wait', 'return once the run is started')
    .option('--watch', 'show live progress while waiting')
    .option('--json', 'JSON output')
    .action(async (file: string, options: { wait: boolean; watch?: boolean; json?: boolean }) => {
      const spec = readSpecFile(file);
      if (!spec.migration) throw new Error(`${file}: the spec has no migration section`);
      const client = await RedisClusterClient.connect();
      try {
        const handle = await client.migrate(spec);
        if (!options.wait) {
          if (options.json) printJson({ workflowId: handle.workflowId });
          else console.log(`started ${handle.workflowId}`);
          return;
        }
        if (options.watch && !options.json) await watchRun(client, migrationWorkflowId(spec.name));
        const result = await client.migrationResult(spec.name);
        if (options.json) return printJson(result);
        for (const shard of result.migration.shards)
          console.log(
            `${shard.shard}: scanned ${shard.scanned}, copied ${shard.copied}, skipped ${shard.skipped}, failed ${shard.failed} (${shard.mode})`,
          );
        for (const v of result.migration.verification)
          console.log(`verified ${v.checked} keys of ${v.shard}: ${v.differences.length} differences`);
      } finally {
        await client.close();
      }
    });
}
