/**
 * A private test network: network namespaces ("hosts") joined by a bridge in the root namespace, each with its own
 * address in 10.213.<n>.0/24. Nothing is routed anywhere else: traffic stays on the bridge and loopback.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';

export interface TestHost {
  name: string;
  /** The network namespace: run a command in it with `ip netns exec <namespace>`. */
  namespace: string;
  ip: string;
}

export interface TestNetwork {
  /** The root namespace's address on the bridge: servers the hosts must reach listen here. */
  bridgeIp: string;
  hosts: TestHost[];
  remove(): void;
}

function ip(...args: string[]): void {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(run.stderr || run.error?.message || '').trim()}`);
}

/** Why namespaces cannot be made here (not root, no `ip`), or undefined when they can. */
export function namespacesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const probe = `rco-probe-${process.pid}`;
  try {
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export function createTestNetwork(count: number): TestNetwork {
  const id = process.pid % 250;
  const subnet = `10.213.${id}`;
  const bridge = `rcobr${id}`;
  const hosts: TestHost[] = Array.from({ length: count }, (_, i) => ({
    name: `h${i + 1}`,
    namespace: `rco${id}-h${i + 1}`,
    ip: `${subnet}.${11 + i}`,
  }));
  const network: TestNetwork = {
    bridgeIp: `${subnet}.1`,
    hosts,
    remove() {
      // Best effort, all of it: also after a half-made network.
      for (const host of hosts) spawnSync('ip', ['netns', 'del', host.namespace]);
      spawnSync('ip', ['link', 'del', bridge]);
    },
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${network.bridgeIp}/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (const [i, host] of hosts.entries()) {
      const veth = `rcov${id}h${i + 1}`;
      ip('netns', 'add', host.namespace);
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace);
      ip('link', 'set', veth, 'master', bridge, 'up');
      ip('-n', host.namespace, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
      ip('-n', host.namespace, 'link', 'set', 'eth0', 'up');
      ip('-n', host.namespace, 'link', 'set', 'lo', 'up');
    }
  } catch (err) {
    network.remove();
    throw err;
  }
  return network;
}

/**
 * Forwards connections to `listenHost:listenPort` to `127.0.0.1:targetPort`: lets the hosts reach a server that
 * listens on loopback only (the Temporal dev server works only on 127.0.0.1 or 0.0.0.0, and 0.0.0.0 would open
 * it to every network).
 */
export function forwardToLoopback(
  listenHost: string,
  listenPort: number,
  targetPort: number,
): Promise<() => Promise<void>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => (inbound.destroy(), outbound.destroy()));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, listenHost, () =>
      resolve(async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise((done) => server.close(done));
      }),
    );
  });
}
