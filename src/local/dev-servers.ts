/**
 * Development servers for the embedded default and the tests: the Temporal CLI dev server and an S3-compatible
 * store, on loopback, started as detached processes and stopped by their own pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, portOpen, stopPid } from '../host/processes';
import { hasTool, toolPath } from '../host/tools';
import { SEARCH_ATTRIBUTES } from '../model';

export interface LocalServer {
  name: string;
  pid: number;
  /** Where clients connect: host:port for Temporal, http://host:port for S3. */
  address: string;
  stop(): Promise<void>;
}

function spawnLogged(command: string, args: string[], logFile: string, cwd: string): ChildProcess {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return child;
}

async function waitFor(
  what: string,
  ready: () => Promise<boolean>,
  child: ChildProcess,
  logFile: string,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}; see ${logFile}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms; see ${logFile}`);
}

export interface TemporalDevServerOptions {
  port: number;
  /** Web UI port; no UI when undefined. */
  uiPort?: number;
  /** SQLite file; in memory when undefined. */
  dbFile?: string;
  stateDir: string;
  /** Search attributes to register, name -> type. @default ours (RedisCluster, RedisClusterStep) */
  searchAttributes?: Record<string, string>;
  /** Dynamic config values, e.g. {"limit.historyCount.suggestContinueAsNew": 20} (tests of long runs). */
  dynamicConfig?: Record<string, unknown>;
}

export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<LocalServer> {
  const logFile = path.join(options.stateDir, `temporal-${options.port}.log`);
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(options.port), '--log-level', 'warn'];
  args.push('--http-port', String(await freePort()), '--metrics-port', String(await freePort()));
  if (options.uiPort) args.push('--ui-port', String(options.uiPort), '--ui-ip', '127.0.0.1');
  else args.push('--headless');
  if (options.dbFile) args.push('--db-filename', options.dbFile);
  for (const [name, type] of Object.entries(options.searchAttributes ?? SEARCH_ATTRIBUTES))
    args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries(options.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  const child = spawnLogged(toolPath('temporal'), args, logFile, options.stateDir);
  await waitFor('temporal dev server', () => portOpen(options.port), child, logFile);
  const pid = child.pid!;
  return { name: 'temporal', pid, address: `127.0.0.1:${options.port}`, stop: () => stopPid(pid) };
}

export interface S3ServerOptions {
  port: number;
  stateDir: string;
}

/**
 * SeaweedFS (master, volume, filer and S3 gateway in one process), or moto's server where setup fell back to it.
 * Its inner ports are picked free just before the start; when another process starting at the same moment takes
 * one first, it is started again with new ones.
 */
export async function startS3Server(options: S3ServerOptions): Promise<LocalServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startS3ServerOnce(options, attempt);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortTakenError)) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startS3ServerOnce(options: S3ServerOptions, attempt: number): Promise<LocalServer> {
  const logFile = path.join(options.stateDir, `s3-${options.port}${attempt > 1 ? `-${attempt}` : ''}.log`);
  const dataDir = path.join(options.stateDir, `s3-${options.port}`);
  mkdirSync(dataDir, { recursive: true });
  let child: ChildProcess;
  if (hasTool('weed') || !hasTool('moto_server')) {
    const ports = await Promise.all(Array.from({ length: 7 }, () => freePort()));
    const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3Grpc] = ports.map(String) as string[];
    child = spawnLogged(
      toolPath('weed'),
      [
        'server',
        `-dir=${dataDir}`,
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-master.port=${master}`,
        `-master.port.grpc=${masterGrpc}`,
        `-volume.port=${volume}`,
        `-volume.port.grpc=${volumeGrpc}`,
        '-volume.max=5',
        '-filer',
        `-filer.port=${filer}`,
        `-filer.port.grpc=${filerGrpc}`,
        '-s3',
        `-s3.port=${options.port}`,
        `-s3.port.grpc=${s3Grpc}`,
        '-s3.port.iceberg=0',
        '-s3.port.lance=0',
      ],
      logFile,
      dataDir,
    );
  } else {
    child = spawnLogged(toolPath('moto_server'), ['-H', '127.0.0.1', '-p', String(options.port)], logFile, dataDir);
  }
  const endpoint = `http://127.0.0.1:${options.port}`;
  try {
    await waitFor(
      'S3 server',
      async () => {
        try {
          const reply = await fetch(`${endpoint}/`);
          return reply.status < 500;
        } catch {
          return false;
        }
      },
      child,
      logFile,
    );
  } catch (err) {
    if (readFileSync(logFile, 'utf8').includes('address already in use')) throw new PortTakenError(String(err));
    throw err;
  }
  const pid = child.pid!;
  return { name: 's3', pid, address: endpoint, stop: () => stopPid(pid) };
}
