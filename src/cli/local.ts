import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { demoDown, demoUp, DEMO_PORTS } from '../local/demo';
import { LOCAL_S3_ENV, readSeedSpec } from '../local/seed';
import { withNode } from '../redis/connection';
import { adminAddress, localizeSpec, parseSpecText } from '../model';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { printJson } from './common';

export function registerLocal(program: Command): void {
  const local = program.command('local').description('the embedded default: everything on this machine');

  local
    .command('up')
    .description('start Temporal, an S3 store and a worker under .local/demo, then provision the runbook cluster')
    .option('--json', 'print the report as JSON only')
    .action(async (options: { json?: boolean }) => {
      const say = options.json ? () => undefined : (line: string) => console.log(line);
      const { spec, specFile, temporalAddress } = await demoUp(say);
      const client = await RedisClusterClient.connect({ address: temporalAddress });
      try {
        const handle = await client.provision(spec);
        say(`workflow ${handle.workflowId} running; waiting for the cluster...`);
        const result = await client.result(spec.name);
        if (options.json) return printJson(result);
        const first = spec.nodes[0]!;
        const nodes = await withNode(adminAddress(first), async (c) => (await c.call('CLUSTER', 'NODES')) as string);
        console.log(`\nCLUSTER NODES (from ${first.host}:${first.port}):\n${nodes.trim()}\n`);
        console.log('Report:');
        printJson(result.report);
        if (result.migration) {
          console.log('\nMigration from the legacy Redis:');
          for (const shard of result.migration.shards)
            console.log(
              `  ${shard.shard}: scanned ${shard.scanned}, copied ${shard.copied}, skipped ${shard.skipped}, failed ${shard.failed}, big keys ${shard.bigKeys} (${shard.mode})`,
            );
          for (const v of result.migration.verification)
            console.log(
              `  verified ${v.checked} keys: ${v.differences.length} differences, max expiry drift ${v.ttlDriftMaxMs} ms`,
            );
          console.log(`  target keys: ${result.migration.targetKeys.map((n) => `${n.node}=${n.keys}`).join(' ')}`);
        }
        console.log('\nStep timings:');
        for (const step of result.steps)
          console.log(`  ${step.name.padEnd(16)} ${String(step.durationMs ?? 0).padStart(6)} ms`);
        console.log(`
Web UI:        http://127.0.0.1:${DEMO_PORTS.ui}/namespaces/default/workflows/${handle.workflowId}
Spec used:     ${path.relative(process.cwd(), specFile)}
Run it again:  temporal workflow start --type provisionRedisCluster --task-queue redis-cluster --workflow-id ${handle.workflowId} --input-file ${path.relative(process.cwd(), specFile)}
Plan/verify:   AWS_ACCESS_KEY_ID=${LOCAL_S3_ENV.AWS_ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY=${LOCAL_S3_ENV.AWS_SECRET_ACCESS_KEY} bin/rco plan ${path.relative(process.cwd(), specFile)}
Stop all:      npm run demo:down`);
      } finally {
        await client.close();
      }
    });

  local
    .command('down')
    .description('stop everything `local up` started (data is kept under .local/demo)')
    .action(async () => {
      await demoDown((line) => console.log(line));
    });

  local
    .command('spec')
    .description('print a spec localized for this machine (hosts -> 127.0.0.1, local S3, local folders)')
    .argument('[spec]', 'production spec (JSON or YAML); default examples/seed-cluster.json')
    .requiredOption('--config-dir <dir>', 'local folder for the config files')
    .option('--s3-endpoint <url>', 'local S3-compatible endpoint', `http://127.0.0.1:${DEMO_PORTS.s3}`)
    .option('--host <address>', 'address for every node', '127.0.0.1')
    .option('--port-offset <n>', 'shift every port by n', '0')
    .action(
      (
        file: string | undefined,
        options: { configDir: string; s3Endpoint: string; host: string; portOffset: string },
      ) => {
        const input = file ? parseSpecText(readFileSync(file, 'utf8')) : readSeedSpec();
        printJson(
          localizeSpec(input, {
            configDir: path.resolve(options.configDir),
            s3Endpoint: options.s3Endpoint,
            host: options.host,
            portOffset: Number(options.portOffset),
          }),
        );
      },
    );
}
