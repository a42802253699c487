/**
 * A cluster client's load, in a process of its own as real clients are: it reads the bench's keys and writes its own
 * through a cluster client (it follows MOVED and ASK) until the parent says stop (at most 10 minutes), then sends its
 * errors besides redirects and its slowest request. In the parent's process it would share one event loop with the
 * worker (and a spawnSync there stops it altogether), so both the tool measured and the load would be wrong.
 *
 * Parent side: `startClusterLoad(seed, keys)`; child side: this file run with a seed and a key count.
 */
import { fork } from 'node:child_process';
import { Cluster } from 'ioredis';

export interface LoadStats {
  ops: number;
  errors: number;
  firstError: string;
  slowestMs: number;
}

export function startClusterLoad(seed: { host: string; port: number }, keys: number) {
  const child = fork(__filename, [seed.host, String(seed.port), String(keys)], { execArgv: ['--import', 'tsx'] });
  const ready = new Promise<void>((resolve) => child.once('message', () => resolve()));
  return {
    ready,
    stop: () =>
      new Promise<LoadStats>((resolve, reject) => {
        child.once('message', (stats) => resolve(stats as LoadStats));
        child.once('exit', (code) => reject(new Error(`the load process ended (${code}) before its report`)));
        child.send('stop');
      }),
  };
}

async function runLoad(host: string, port: number, keys: number): Promise<void> {
  const client = new Cluster([{ host, port }]);
  const stats: LoadStats = { ops: 0, errors: 0, firstError: '', slowestMs: 0 };
  let stop = false;
  process.on('message', () => (stop = true));
  await client.get('k:0');
  process.send!('ready');
  const started = Date.now();
  for (let n = 0; !stop && Date.now() - started < 600_000; n++) {
    const t = performance.now();
    try {
      const i = (n * 7919) % keys;
      if ((await client.get(`k:${i}`)) !== `v:${i}`) throw new Error(`k:${i} read wrong`);
      await client.set(`load:${n % 10_000}`, String(n));
    } catch (err) {
      stats.errors++;
      stats.firstError ||= (err as Error).message;
    }
    stats.slowestMs = Math.max(stats.slowestMs, performance.now() - t);
    stats.ops++;
  }
  client.disconnect();
  process.send!(stats, () => process.exit(0));
}

if (require.main === module) {
  const [host, port, keys] = process.argv.slice(2);
  void runLoad(host!, Number(port), Number(keys));
}
