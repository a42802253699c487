/** Short-lived admin connections to single nodes. */
import Redis from 'ioredis';
import { AsyncLocalStorage } from 'node:async_hooks';
import net from 'node:net';
import type { ResolvedAuth } from './auth';

export interface NodeAddress {
  host: string;
  port: number;
}

/** A node refused our credentials (or has none configured while we have some): no retry can fix that. */
export class NodeAuthError extends Error {
  override name = 'NodeAuthError';
}

const clusterCredentials = new AsyncLocalStorage<ResolvedAuth>();

/**
 * Runs `fn` with the credentials of the cluster it works on: every connection to a node opened inside it logs in
 * with them (the activities wrap themselves in this, from the spec's `auth` reference).
 */
export function withClusterCredentials<T>(auth: ResolvedAuth, fn: () => T): T {
  return clusterCredentials.run(auth, fn);
}

/** The credentials of the cluster the current activity works on; none outside withClusterCredentials. */
export function clusterAuth(): ResolvedAuth {
  return clusterCredentials.getStore() ?? {};
}

/**
 * Opens a connection that fails fast instead of queueing or reconnecting: admin steps retry on their own terms.
 * It logs in with `options.auth`, by default with the current cluster's credentials.
 */
export async function connectNode(
  address: NodeAddress,
  options: { timeoutMs?: number; auth?: ResolvedAuth } = {},
): Promise<Redis> {
  const client = new Redis({
    host: address.host,
    port: address.port,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: options.timeoutMs ?? 5000,
    commandTimeout: 30_000,
    enableReadyCheck: false,
  });
  client.on('error', () => undefined); // errors surface through the command promises
  await client.connect();
  const auth = options.auth ?? clusterAuth();
  if (auth.password !== undefined) {
    try {
      await (auth.username ? client.call('AUTH', auth.username, auth.password) : client.call('AUTH', auth.password));
    } catch (err) {
      client.disconnect();
      const message = (err as Error).message.split('\n')[0] ?? '';
      if (/WRONGPASS|without any password|invalid (username|password)/i.test(message))
        throw new NodeAuthError(
          `${address.host}:${address.port} refused the credentials given for it (user ${auth.username ?? 'default'}): ${message}`,
        );
      throw err;
    }
  }
  return client;
}

/** Runs `fn` with a connection to `address` (logged in with `auth`, by default the cluster's) and closes it. */
export async function withNode<T>(
  address: NodeAddress,
  fn: (client: Redis) => Promise<T>,
  auth?: ResolvedAuth,
): Promise<T> {
  const client = await connectNode(address, { auth });
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

export type PortProbe = { kind: 'free' } | { kind: 'redis'; reply: string } | { kind: 'other'; reply: string };

/**
 * What answers on a port, without trusting it to be Redis: sends one inline PING and reads the first line.
 * Redis answers "+PONG", or "-NOAUTH ..." when it has a password; anything else is not a Redis.
 */
export function probePort(address: NodeAddress, timeoutMs = 2000): Promise<PortProbe> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address.host, port: address.port });
    let reply = '';
    const finish = (probe: PortProbe) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(probe);
    };
    const timer = setTimeout(() => finish({ kind: 'other', reply: reply || '(no reply to PING)' }), timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      const line = reply.split('\r\n')[0] ?? '';
      if (!reply.includes('\r\n') && reply.length < 256) return;
      if (line === '+PONG' || /^-(NOAUTH|LOADING|MASTERDOWN|BUSY)\b/.test(line)) finish({ kind: 'redis', reply: line });
      else finish({ kind: 'other', reply: line.slice(0, 80) });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') finish({ kind: 'free' });
      else finish({ kind: 'other', reply: `${err.code ?? err.message}` });
    });
    socket.on('end', () => finish({ kind: 'other', reply: reply.slice(0, 80) || '(closed without a reply)' }));
  });
}
