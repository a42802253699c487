import type { Command } from 'commander';
import { createWorker } from '../worker';
import { temporalSettings } from '../settings';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker on task queue redis-cluster (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE)')
    .action(async () => {
      const { worker, connection } = await createWorker();
      console.log(`worker polling ${temporalSettings().taskQueue} on ${temporalSettings().address}`);
      try {
        await worker.run();
      } finally {
        await connection.close();
      }
    });
}
