import { type Command, InvalidArgumentError } from 'commander';
import { runWorker } from '../worker';

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--max-shards must be a whole number, 1 or more');
  return n;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description(
      'run a worker on task queues redis-cluster and redis-cluster-shards (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE); more workers share the shards of a migration',
    )
    .option('--host <host>', "a host worker: only this host's node-local steps, on task queue redis-host-<host>")
    .option(
      '--max-shards <n>',
      'shard copies and live syncs this worker runs at once (RCO_MAX_SHARDS; default 4 per CPU)',
      positiveInteger,
    )
    .action((options: { host?: string; maxShards?: number }) =>
      runWorker({ host: options.host, maxShards: options.maxShards }),
    );
}
