/** rco schedule: the drift check on a Temporal Schedule. */
import { InvalidArgumentError, type Command } from 'commander';
import { RedisClusterClient } from '../client';
import { readSpecFile } from './common';

function interval(value: string): string {
  if (!/^\d+(s|m|h|d)$/.test(value) || Number.parseInt(value, 10) === 0)
    throw new InvalidArgumentError('an interval such as 30s, 5m, 1h or 1d');
  return value;
}

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('drift checks on a Temporal Schedule');
  schedule
    .command('verify')
    .description(
      'run the read-only drift check (verifyRedisCluster) every interval; `rco list` shows what each run found',
    )
    .argument('<spec>', 'cluster spec, JSON or YAML')
    .requiredOption('--every <interval>', 'e.g. 5m', interval)
    .action(async (file: string, options: { every: string }) => {
      const spec = readSpecFile(file);
      const client = await RedisClusterClient.connect();
      try {
        const id = await client.scheduleVerify(spec, options.every);
        console.log(`schedule ${id}: drift check of ${spec.name} every ${options.every}`);
      } finally {
        await client.close();
      }
    });
  schedule
    .command('delete')
    .description("delete a cluster's drift-check schedule")
    .argument('<cluster>', 'the cluster name')
    .action(async (cluster: string) => {
      const client = await RedisClusterClient.connect();
      try {
        await client.deleteSchedule(cluster);
        console.log(`deleted the drift-check schedule of ${cluster}`);
      } finally {
        await client.close();
      }
    });
}
