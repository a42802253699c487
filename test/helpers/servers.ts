/** Processes a test starts by itself (not through the workflow), stopped by pid afterwards. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { stopPid } from '../../src/host/processes';
import { toolPath } from '../../src/host/tools';
import { type ClusterAccess, probePort } from '../../src/redis/connection';

const started: ChildProcess[] = [];
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();

/**
 * A plain redis-server (cluster-enabled unless told otherwise) on `port`, its files under `dir`; `server` names
 * another binary that setup links (redis-server-6.2, redis-server-8.2, valkey-server). `probe`: how to reach it to
 * see that it is up (TLS for a TLS-only server).
 */
export async function startTestRedis(
  port: number,
  dir: string,
  extra: string[] = [],
  server = 'redis-server',
  probe: ClusterAccess = { auth: {} },
): Promise<ChildProcess> {
  mkdirSync(dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'];
  args.push('--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, ...extra);
  const child = spawn(toolPath(server), args, { stdio: 'ignore' });
  started.push(child);
  const deadline = Date.now() + 10_000;
  while ((await probePort({ host: '127.0.0.1', port }, 300, probe)).kind !== 'redis') {
    if (Date.now() > deadline) throw new Error(`test ${server} on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/** A Redis Sentinel on `port`, from a config file of its own (Sentinel rewrites it as it learns the topology). */
export async function startTestSentinel(port: number, conf: string, lines: string[]): Promise<ChildProcess> {
  writeFileSync(conf, [`port ${port}`, 'bind 127.0.0.1', ...lines, ''].join('\n'));
  const child = spawn(toolPath('redis-server'), [conf, '--sentinel'], { stdio: 'ignore' });
  started.push(child);
  const deadline = Date.now() + 10_000;
  while ((await probePort({ host: '127.0.0.1', port }, 300, { auth: {} })).kind !== 'redis') {
    if (Date.now() > deadline) throw new Error(`test Sentinel on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

/** Something that is not Redis on `port`: answers every connection like a web server. */
export function startNonRedis(port: number): Promise<void> {
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
}

export async function stopTestServers(): Promise<void> {
  await Promise.all(started.splice(0).map((child) => (child.pid ? stopPid(child.pid) : undefined)));
  for (const socket of sockets) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
}
