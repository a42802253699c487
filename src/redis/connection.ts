/** Short-lived admin connections to single nodes. */
import Redis from 'ioredis';
import { AsyncLocalStorage } from 'node:async_hooks';
import net from 'node:net';
import tls from 'node:tls';
import { type NodeSpec, adminAddress, nodeLabel } from '../model';
import type { ResolvedAuth } from './auth';

export interface NodeAddress {
  host: string;
  port: number;
}

/** A node refused our credentials (or has none configured while we have some): no retry can fix that. */
export class NodeAuthError extends Error {
  override name = 'NodeAuthError';
}

/**
 * TLS material for connections to nodes, read from the files the spec names: the options of `tls.connect`, passed as
 * they are to ioredis, our batch connections and replication links.
 */
export interface TlsMaterial {
  /** The CA to verify the server's certificate with; the system's CAs without it. */
  ca?: Buffer;
  /** Client certificate and key, for nodes that check clients (tls-auth-clients, on by default). */
  cert?: Buffer;
  key?: Buffer;
  /** The name the server's certificate must carry, and SNI. @default the host */
  servername?: string;
  /** false accepts any certificate (migration.source.tls.skipCertificateVerification). @default true */
  rejectUnauthorized?: boolean;
}

/** How to reach the nodes of one cluster: its credentials, and TLS when its nodes speak only TLS. */
export interface ClusterAccess {
  auth: ResolvedAuth;
  tls?: TlsMaterial;
}

/** No credentials, no TLS: for servers that are not the cluster's (a migration source, our temporary servers). */
export const PLAIN_ACCESS: ClusterAccess = { auth: {} };

const currentAccess = new AsyncLocalStorage<ClusterAccess>();

/**
 * Runs `fn` with the access of the cluster it works on: every connection to a node opened inside it uses it (the
 * activities wrap themselves in this, from the spec's `auth` and `tls` references).
 */
export function withClusterAccess<T>(access: ClusterAccess, fn: () => T): T {
  return currentAccess.run(access, fn);
}

/** The access of the cluster the current activity works on; plain and without credentials outside it. */
export function clusterAccess(): ClusterAccess {
  return currentAccess.getStore() ?? PLAIN_ACCESS;
}

export const clusterAuth = (): ResolvedAuth => clusterAccess().auth;

/**
 * Opens a connection that fails fast instead of queueing or reconnecting: admin steps retry on their own terms.
 * It uses `options.access` (credentials, TLS), by default the current cluster's.
 */
export async function connectNode(
  address: NodeAddress,
  options: { timeoutMs?: number; access?: ClusterAccess; db?: number } = {},
): Promise<Redis> {
  const access = options.access ?? clusterAccess();
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
    ...(access.tls ? { tls: { ...access.tls } } : {}),
  });
  client.on('error', () => undefined); // errors surface through the command promises
  await client.connect();
  const auth = access.auth;
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
  if (options.db) {
    try {
      await client.select(options.db);
    } catch (err) {
      client.disconnect();
      throw new Error(`${address.host}:${address.port} has no database ${options.db}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return client;
}

/**
 * An error that says which node it happened on. Business failures (ApplicationFailure) and refused logins already
 * say so and keep their kind; a lost connection or a command error gets the node's name in front.
 */
function onNodeError(err: unknown, label: string): unknown {
  if (!(err instanceof Error) || err instanceof NodeAuthError || err.name === 'ApplicationFailure') return err;
  if (err.message.includes(label)) return err;
  return new Error(`${label}: ${err.message}`, { cause: err });
}

/**
 * Runs `fn` with a connection to `address` (with `access`, by default the cluster's) and closes it. Failures name
 * the node: `label`, by default its address.
 */
export async function withNode<T>(
  address: NodeAddress,
  fn: (client: Redis) => Promise<T>,
  options: { label?: string; access?: ClusterAccess } = {},
): Promise<T> {
  const label = options.label ?? `${address.host}:${address.port}`;
  let client: Redis;
  try {
    client = await connectNode(address, { access: options.access });
  } catch (err) {
    throw onNodeError(err, label);
  }
  try {
    return await fn(client);
  } catch (err) {
    throw onNodeError(err, label);
  } finally {
    client.disconnect();
  }
}

/** withNode for a node of the spec: at its admin address, failures named by its id and address. */
export function withSpecNode<T>(node: NodeSpec, fn: (client: Redis) => Promise<T>): Promise<T> {
  return withNode(adminAddress(node), fn, { label: nodeLabel(node) });
}

export type PortProbe = { kind: 'free' } | { kind: 'redis'; reply: string } | { kind: 'other'; reply: string };

/**
 * What answers on a port, without trusting it to be Redis: sends one inline PING and reads the first line.
 * Redis answers "+PONG", or "-NOAUTH ..." when it has a password; anything else is not a Redis.
 */
export function probePort(
  address: NodeAddress,
  timeoutMs = 2000,
  access: ClusterAccess = clusterAccess(),
): Promise<PortProbe> {
  return new Promise((resolve) => {
    const socket = access.tls
      ? tls.connect({ host: address.host, port: address.port, ...access.tls })
      : net.connect({ host: address.host, port: address.port });
    let reply = '';
    const finish = (probe: PortProbe) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(probe);
    };
    const timer = setTimeout(() => finish({ kind: 'other', reply: reply || '(no reply to PING)' }), timeoutMs);
    socket.on(access.tls ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
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
