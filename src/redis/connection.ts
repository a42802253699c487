/** Short-lived admin connections to single nodes. */
import Redis from 'ioredis';
import net from 'node:net';

export interface NodeAddress {
  host: string;
  port: number;
}

/** Opens a connection that fails fast instead of queueing or reconnecting: admin steps retry on their own terms. */
export async function connectNode(address: NodeAddress, options: { timeoutMs?: number } = {}): Promise<Redis> {
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
  return client;
}

/** Runs `fn` with a connection to `address` and closes it afterwards. */
export async function withNode<T>(address: NodeAddress, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = await connectNode(address);
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
