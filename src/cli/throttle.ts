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
    .description(
      "change a running run's limit (keys/s moving slots or copying, commands/s streaming); answers with the one in force",
    )
    .argument('<run>', 'cluster name (whichever of its runs is running: migration, else provisioning) or a workflow id')
    .argument('<keys-per-second>', 'a positive number, or "off" for no limit', keysPerSecond)
    .option('--json', 'JSON output')
    .action(async (run: string, limit: number | null, options: { json?: boolean }) => {
      const client = await RedisClusterClient.connect();
      try {
        const handle = await client.running(run);
        const now = await client.throttle(handle.workflowId, limit);
        if (options.json) printJson({ run: handle.workflowId, keysPerSecond: now });
        else console.log(`throttle of ${handle.workflowId}: ${now === null ? 'off' : `${now}/s`}`);
      } finally {
        await client.close();
      }
    });
}
