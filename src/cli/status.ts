import type { Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("show a cluster's provisioning progress: current step, each step's status and timing")
    .argument('<cluster>', 'cluster name (workflow id redis-cluster-<name>)')
    .option('--json', 'JSON output')
    .option('--worker-wait <seconds>', 'how long a task may wait for a worker before it is reported', '30')
    .action(async (name: string, options: { json?: boolean; workerWait: string }) => {
      const client = await RedisClusterClient.connect();
      try {
        // Read from the server alone: with no worker left, the progress query below has nobody to answer it.
        const budgetMs = Number(options.workerWait) * 1000;
        if (!(budgetMs >= 0)) throw new Error(`--worker-wait: a number of seconds, not ${options.workerWait}`);
        const waiting = await client.waitingForWorker(name, budgetMs).catch(() => undefined);
        if (waiting && !options.json) console.log(`waiting for a worker: ${waiting.message}`);
        // No worker polls: nobody would answer the progress query.
        const progress = waiting?.pollers === 0 ? undefined : await client.progress(name);
        if (options.json) return printJson({ ...progress, waitingForWorker: waiting });
        if (!progress) return;
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
