import { InvalidArgumentError, type Command } from 'commander';
import { RedisClusterClient } from '../client';
import { printJson } from './common';

function keysPerSecond(value: string): number | null {
  if (value === 'off') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError('a positive whole number of keys per second, or "off"');
  return n;
}

export function registerThrottle(program: Command): void {
  program
    .command('throttle')
    .description("change a running migration's keys-per-second limit; answers with the limit now in force")
    .argument('<run>', 'cluster name (its provisioning run) or a workflow id such as redis-cluster-<name>-migration')
    .argument('<keys-per-second>', 'a positive number, or "off" for no limit', keysPerSecond)
    .option('--json', 'JSON output')
    .action(async (run: string, limit: number | null, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        const now = await client.throttle(run, limit);
        if (options.json) printJson({ run, keysPerSecond: now });
        else console.log(`throttle of ${client.handle(run).workflowId}: ${now === null ? 'off' : `${now} keys/s`}`);
      } finally {
        await client.close();
      }
    });
}
