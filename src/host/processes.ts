/** Processes and ports on this host: free ports, liveness by pid, stopping by pid. */
import net from 'node:net';

/**
 * The runbook's Redis ports (50001-50008) and their cluster bus ports (60001-60008) lie in the kernel's ephemeral
 * range; a helper server given one of them would stop a node from starting. freePort never hands those out.
 */
const RESERVED_FOR_REDIS: [number, number][] = [
  [50000, 50999],
  [60000, 60999],
];

function bindEphemeral(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = await bindEphemeral();
    if (!RESERVED_FOR_REDIS.some(([low, high]) => port >= low && port <= high)) return port;
  }
  throw new Error('no free port outside the Redis ranges');
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(500);
    socket.on('connect', () => (socket.destroy(), resolve(true)));
    socket.on('timeout', () => (socket.destroy(), resolve(false)));
    socket.on('error', () => resolve(false));
  });
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after a grace period. Only ever called with pids this code started. */
export async function stopPid(pid: number, graceMs = 5000): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
}
