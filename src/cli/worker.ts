import type { Command } from 'commander';
import { runWorker } from '../worker';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker on task queue redis-cluster (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE)')
    .action(() => runWorker());
}
