/** A daemonized standalone redis-server on loopback, its files in one folder, for temporary and sample data. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { probePort } from '../redis/connection';
import { toolPath } from './tools';

export interface StandaloneOptions {
  port: number;
  dir: string;
  /** More redis-server arguments, e.g. ["--dbfilename", "shard.rdb"]. */
  args?: string[];
  /** Called while waiting (the RDB may take long to load): heartbeats. */
  onWait?: () => void;
  /** @default 60000 */
  timeoutMs?: number;
}

/** Starts it and waits until it answers +PONG (not LOADING); returns its pid, read from its pid file. */
export async function startStandaloneRedis(options: StandaloneOptions): Promise<number> {
  const { port, dir } = options;
  mkdirSync(dir, { recursive: true });
  const pidfile = path.join(dir, 'redis.pid');
  const started = spawnSync(toolPath('redis-server'), [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--daemonize',
    'yes',
    '--pidfile',
    pidfile,
    '--logfile',
    path.join(dir, 'redis.log'),
    ...(options.args ?? []),
  ]);
  if (started.status !== 0) throw new Error(`redis-server on port ${port} did not start: ${started.stderr}`);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const probe = await probePort({ host: '127.0.0.1', port }, 500);
    if (probe.kind === 'redis' && probe.reply === '+PONG') break;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} is not ready; see ${dir}/redis.log`);
    options.onWait?.();
    await new Promise((r) => setTimeout(r, 50));
  }
  return Number(readFileSync(pidfile, 'utf8').trim());
}
