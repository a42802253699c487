/**
 * Ports a node needs that the kernel may hand out to outgoing connections first. Linux picks the local port of an
 * outgoing connection from `ip_local_port_range` (32768-60999 by default), skipping `ip_local_reserved_ports`; the
 * runbook's ports (50001-50008, bus ports 60001-60008) lie inside it, so a node can find its port held by some
 * client's connection. Read from /proc on the machine the worker runs on.
 */
import { readFile, readdir, readlink } from 'node:fs/promises';

export interface PortRange {
  low: number;
  high: number;
}

/** "32768\t60999" */
export function parsePortRange(text: string): PortRange | undefined {
  const [low, high] = text.trim().split(/\s+/).map(Number);
  return low && high ? { low, high } : undefined;
}

/** "50001-50008,60001" → ranges; empty text → none. */
export function parseReservedPorts(text: string): PortRange[] {
  return text
    .trim()
    .split(',')
    .filter(Boolean)
    .map((part) => {
      const [low, high = low] = part.split('-').map(Number);
      return { low: low!, high: high! };
    });
}

const inside = (port: number, range: PortRange) => port >= range.low && port <= range.high;

/** The ports of `wanted` the kernel may give an outgoing connection: inside the range and not reserved. */
export function portsAtRisk(wanted: number[], range: PortRange | undefined, reserved: PortRange[]): number[] {
  if (!range) return [];
  return wanted.filter((port) => inside(port, range) && !reserved.some((r) => inside(port, r)));
}

/** Ports as the ranges `ip_local_reserved_ports` takes: "50001-50008,60001-60008". */
export function asPortList(ports: number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** On this machine: the ports of `wanted` at risk, and the command that reserves them (keeping those reserved now). */
export async function ephemeralPortRisk(wanted: number[]): Promise<{ ports: number[]; fix: string } | undefined> {
  const read = (name: string) => readFile(`/proc/sys/net/ipv4/${name}`, 'utf8').catch(() => '');
  const reserved = parseReservedPorts(await read('ip_local_reserved_ports'));
  const ports = portsAtRisk(wanted, parsePortRange(await read('ip_local_port_range')), reserved);
  if (ports.length === 0) return undefined;
  const keep = reserved.map((r) => (r.low === r.high ? String(r.low) : `${r.low}-${r.high}`));
  const all = [...keep, asPortList(ports)].join(',');
  return { ports, fix: `sysctl -w net.ipv4.ip_local_reserved_ports=${all}` };
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '06': 'TIME_WAIT',
  '08': 'CLOSE_WAIT',
  '0A': 'LISTEN',
};

/** "0100007F:EA61" → "127.0.0.1:60001" (IPv4), or the port alone for IPv6. */
function addressOf(hex: string): { text: string; port: number } {
  const [ip, port] = hex.split(':');
  const p = parseInt(port!, 16);
  if (ip!.length !== 8) return { text: `[::]:${p}`, port: p };
  const bytes = [0, 2, 4, 6].map((i) => parseInt(ip!.slice(i, i + 2), 16)).reverse();
  return { text: `${bytes.join('.')}:${p}`, port: p };
}

/**
 * Who holds local `port` on this machine: each socket bound to it (/proc/net/tcp and tcp6), its state and peer,
 * and the process that has it open (pid and name, where /proc lets us see them). Empty when none does.
 */
export async function portHolders(port: number): Promise<string[]> {
  const sockets: { inode: string; text: string }[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = addressOf(f[1]!);
      if (local.port !== port) continue;
      const state = TCP_STATES[f[3]!] ?? `state ${f[3]}`;
      const peer = state === 'LISTEN' ? '' : ` to ${addressOf(f[2]!).text}`;
      sockets.push({ inode: f[9]!, text: `${local.text} (${state}${peer})` });
    }
  }
  if (sockets.length === 0) return [];
  const owners = await socketOwners(new Set(sockets.map((s) => s.inode)));
  return sockets.map((s) => {
    const owner = owners.get(s.inode);
    return owner
      ? `${s.text}, held by pid ${owner.pid} (${owner.name})`
      : `${s.text}, held by a process not shown here`;
  });
}

/** The process holding each socket inode, found through /proc/<pid>/fd. */
async function socketOwners(inodes: Set<string>): Promise<Map<string, { pid: number; name: string }>> {
  const owners = new Map<string, { pid: number; name: string }>();
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode) && !owners.has(inode)) {
        const name = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
        owners.set(inode, { pid: Number(pid), name });
      }
    }
    if (owners.size === inodes.size) break;
  }
  return owners;
}

const LOOPBACK = /^(127\.|localhost$|::1$)/;

/**
 * The warning for nodes of this machine (those on loopback: the host a local run starts them on) whose port or bus
 * port (port + 10000) the kernel may hand to an outgoing connection; undefined when none.
 */
export async function ephemeralPortWarning(
  nodes: { id: string; host: string; port: number }[],
): Promise<string | undefined> {
  const local = nodes.filter((n) => LOOPBACK.test(n.host));
  const risk = await ephemeralPortRisk(local.flatMap((n) => [n.port, n.port + 10000]));
  if (!risk) return undefined;
  const named = local
    .map((n) => ({ id: n.id, ports: [n.port, n.port + 10000].filter((p) => risk.ports.includes(p)) }))
    .filter((n) => n.ports.length > 0)
    .map((n) => `${n.id} (${n.ports.join(', ')})`);
  return `ports inside this machine's ephemeral range (net.ipv4.ip_local_port_range), not reserved: ${named.join(', ')}. An outgoing connection can take one of them first and the node then fails to start; reserve them: ${risk.fix}`;
}
