/** Step 3: start every node that is not running; leave running Redis nodes alone. */
import { spawn } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { toolPath } from '../local/tools';
import { PLAIN_ACCESS, probePort } from '../redis/connection';
import { type ClusterSpec, ErrorType, adminAddress, confFacts, nodeLabel } from '../spec';
import { configPath } from './configs';
import { fail, log, sleep, withHeartbeat } from './support';

export interface StartNodeResult {
  node: string;
  action: 'started' | 'already-running';
  pid?: number;
}

/** Refuses (before starting anything) when a node's port is held by something that is not Redis. */
export async function checkPorts(spec: ClusterSpec): Promise<Map<string, 'free' | 'redis'>> {
  const probes = await Promise.all(spec.nodes.map((node) => probePort(adminAddress(node))));
  const state = new Map<string, 'free' | 'redis'>();
  const problems: string[] = [];
  spec.nodes.forEach((node, i) => {
    const probe = probes[i]!;
    if (probe.kind === 'other')
      problems.push(
        `${nodeLabel(node)}: port ${node.port} is held by something that is not Redis (it answered ${JSON.stringify(probe.reply)} to PING); free the port or change the spec`,
      );
    else state.set(node.id, probe.kind);
  });
  if (problems.length > 0) fail(ErrorType.PortNotRedis, problems.join('; '));
  // A node to start also needs its cluster bus port; a listener there would make it abort at start.
  const toStart = spec.nodes.filter((node) => state.get(node.id) === 'free');
  const busProbes = await Promise.all(
    toStart.map((node) => probePort({ ...adminAddress(node), port: node.port + 10000 }, 500, PLAIN_ACCESS)),
  );
  toStart.forEach((node, i) => {
    if (busProbes[i]!.kind !== 'free')
      problems.push(
        `${nodeLabel(node)}: its cluster bus port ${node.port + 10000} is held by another process (the node is not running); free that port or give the node another port`,
      );
  });
  if (problems.length > 0) fail(ErrorType.BusPortInUse, problems.join('; '));
  return state;
}

async function startOne(spec: ClusterSpec, nodeId: string): Promise<number | undefined> {
  const node = spec.nodes.find((n) => n.id === nodeId)!;
  const file = configPath(spec, node);
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
  const child = spawn(toolPath('redis-server'), [file], { cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
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
      if (abort.length > 0)
        throw new Error(
          `${nodeLabel(node)}: redis-server ${file} stopped at start: ${abort.map((l) => l.replace(/^.* # /, '')).join(' | ')}`,
        );
    }
    if (exitCode !== undefined && exitCode !== 0) {
      const logTail = (await newLogLines()).slice(-5).join(' | ');
      fail(
        ErrorType.NodeStartFailed,
        `${nodeLabel(node)}: redis-server ${file} exited with code ${exitCode}: ${(stderr + ' ' + logTail).trim().slice(0, 500)}`,
      );
    }
    await sleep(50);
  }
  if ((await probePort(adminAddress(node), 1000)).kind !== 'redis')
    throw new Error(`${nodeLabel(node)}: redis-server ${file} did not answer PING within 20 s`);
  const pid = facts.pidfile
    ? Number((await readFile(path.resolve(cwd, facts.pidfile), 'utf8').catch(() => '')).trim()) || undefined
    : child.pid;
  log.info('node started', { node: node.id, config: file, pid });
  return pid;
}

export async function startNodes(spec: ClusterSpec): Promise<StartNodeResult[]> {
  return withHeartbeat(async () => {
    const state = await checkPorts(spec);
    return Promise.all(
      spec.nodes.map(async (node): Promise<StartNodeResult> => {
        if (state.get(node.id) === 'redis') {
          log.info('node already running; left alone', { node: node.id });
          return { node: node.id, action: 'already-running' };
        }
        return { node: node.id, action: 'started', pid: await startOne(spec, node.id) };
      }),
    );
  });
}
