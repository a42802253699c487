import type { Command } from 'commander';
import { runWorker } from '../worker';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a worker on task queue redis-cluster (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE)')
    .option('--host <host>', "a host worker: only this host's node-local steps, on task queue redis-host-<host>")
    .action((options: { host?: string }) => runWorker({ host: options.host }));
}
