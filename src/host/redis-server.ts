/** Starting redis-server on this host: a cluster node from its config file, or a standalone server for a folder. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type NodeSpec, type ServerBinary, ErrorType, adminAddress, confFacts, nodeLabel } from '../model';
import { probePort } from '../redis/connection';
import { fail, log, sleep } from '../runtime/context';
import { portHolders } from './ports';
import { toolPath } from './tools';

/** Whether the node of this config file has its cluster state (its nodes.conf: its id, epochs, slots) on disk. */
export async function hasClusterState(file: string): Promise<boolean> {
  const facts = confFacts(await readFile(file, 'utf8'));
  const dir = path.resolve(path.dirname(file), facts.dir ?? '.');
  return stat(path.resolve(dir, facts.clusterConfigFile)).then(
    () => true,
    () => false,
  );
}

/**
 * Starts `redis-server <file>` for a node and waits until it answers PING; returns its pid. A start that fails for
 * good (bad config, missing binary) is a NodeStartFailed failure naming the node, with the end of its log.
 */
export async function startRedisServer(
  file: string,
  node: NodeSpec,
  server: ServerBinary = 'redis-server',
): Promise<number | undefined> {
  const binary = binaryOf(server);
  const facts = confFacts(await readFile(file, 'utf8'));
  const cwd = path.dirname(file);
  // Redis refuses to start when its dir or log folder is missing.
  for (const dir of [
    facts.dir,
    facts.logfile && path.dirname(facts.logfile),
    facts.pidfile && path.dirname(facts.pidfile),
  ])
    if (dir) await mkdir(path.resolve(cwd, dir), { recursive: true });

  // What the node logs from now on: a daemonized redis-server that aborts says why only there.
  const logFile = facts.logfile ? path.resolve(cwd, facts.logfile) : undefined;
  const logStart = logFile
    ? await stat(logFile).then(
        (st) => st.size,
        () => 0,
      )
    : 0;
  const newLogLines = async () =>
    logFile ? (await readFile(logFile).catch(() => Buffer.alloc(0))).subarray(logStart).toString().split('\n') : [];

  // Detached, so that the node outlives this worker (a killed worker must not take the cluster with it).
  const child = spawn(binary, [file], { cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (err) => {
      stderr += err.message;
      resolve(-1);
    });
  });
  child.unref();

  const deadline = Date.now() + 20_000;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  while (Date.now() < deadline) {
    const probe = await probePort(adminAddress(node), 1000);
    if (probe.kind === 'redis') break;
    // With daemonize the launcher exits 0 and the daemon goes on; any other exit is a failed start.
    if (exitCode === 0) {
      // Daemonized: the launcher is gone; an abort (a bus port taken, say) is retried, naming the cause.
      const abort = (await newLogLines()).filter(
        (line) => / # /.test(line) && /aborting|Failed|Can't|Fatal/i.test(line),
      );
      if (abort.length > 0) {
        const causes = abort.map((l) => l.replace(/^.* # /, '')).join(' | ');
        // A port taken (often by an outgoing connection given it from the ephemeral range): say who has it.
        const taken = Number(/Failed listening on port (\d+)/.exec(causes)?.[1] ?? 0);
        const holders = taken ? await portHolders(taken) : [];
        const held = holders.length > 0 ? `; port ${taken}: ${holders.join('; ')}` : '';
        throw new Error(`${nodeLabel(node)}: ${binary} ${file} stopped at start: ${causes}${held}`);
      }
    }
    if (exitCode !== undefined && exitCode !== 0) {
      const logTail = (await newLogLines()).slice(-5).join(' | ');
      fail(
        ErrorType.NodeStartFailed,
        `${nodeLabel(node)}: ${binary} ${file} exited with code ${exitCode}: ${(stderr + ' ' + logTail).trim().slice(0, 500)}`,
      );
    }
    await sleep(50);
  }
  if ((await probePort(adminAddress(node), 1000)).kind !== 'redis')
    throw new Error(`${nodeLabel(node)}: ${binary} ${file} did not answer PING within 20 s`);
  const pid = facts.pidfile
    ? Number((await readFile(path.resolve(cwd, facts.pidfile), 'utf8').catch(() => '')).trim()) || undefined
    : child.pid;
  log.info('node started', { node: node.id, config: file, pid });
  return pid;
}

/** A daemonized standalone redis-server on loopback, its files in one folder, for temporary and sample data. */
export interface StandaloneOptions {
  port: number;
  dir: string;
  /** More redis-server arguments, e.g. ["--dbfilename", "shard.rdb"]. */
  args?: string[];
  /** The server binary. @default redis-server */
  server?: ServerBinary;
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
  const args = [
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
  ];
  // The launcher forks the daemon and exits 0. It was seen ending without a status (killed by a signal) right after
  // an earlier server on the port was stopped: once more, then the whole cause (signal, error, stderr, log tail).
  const binary = binaryOf(options.server);
  let started = spawnSync(binary, args);
  if (started.status !== 0) {
    await new Promise((r) => setTimeout(r, 1000));
    started = spawnSync(binary, args);
  }
  if (started.status !== 0) {
    const logTail = readFileSafe(path.join(dir, 'redis.log')).split('\n').slice(-5).join(' | ');
    const cause = [
      started.error?.message,
      started.signal && `killed by ${started.signal}`,
      started.status !== null && `exit code ${started.status}`,
      String(started.stderr ?? '').trim(),
      logTail && `log: ${logTail}`,
    ].filter(Boolean);
    throw new Error(`redis-server on port ${port} did not start: ${cause.join('; ') || 'no cause given'}`);
  }
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

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The path of a server binary: as given when absolute, else as setup links it (then PATH). */
export const binaryOf = (server: ServerBinary = 'redis-server'): string =>
  server.startsWith('/') ? server : toolPath(server);

/** Engine and version of a server binary, from its `--version` ("Redis server v=7.0.15 ...", "Valkey server v=8.1.8"). */
export function binaryRelease(server?: ServerBinary): { engine: 'redis' | 'valkey'; version: string } | undefined {
  const out = spawnSync(binaryOf(server), ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const match = /^(\w+) server v=(\S+)/i.exec(out);
  if (!match) return undefined;
  return { engine: match[1]!.toLowerCase() === 'valkey' ? 'valkey' : 'redis', version: match[2]! };
}
