import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show a cluster's provisioning progress: current step, each step's status and timing")
    .argument('<cluster>', 'cluster name (workflow id redis-cluster-<name>)')
    .option('--json', 'JSON output')
    .action(async (name: string, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        const progress = await client.progress(name);
        if (options.json) return printJson(progress);
        console.log(
          `cluster ${progress.cluster}: ${progress.currentStep ? `running ${progress.currentStep}` : 'idle'}`,
        );
        for (const step of progress.steps)
          console.log(
            `  ${step.name.padEnd(16)} ${step.status.padEnd(8)} ${step.durationMs !== undefined ? `${step.durationMs} ms` : ''}${step.error ? `  ${step.error}` : ''}`,
          );
      } finally {
        await client.close();
      }
    });
}
