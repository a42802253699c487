/**
 * CPU seconds of the processes a benchmark runs, read from /proc: which process spent the machine's cores in a
 * phase (the worker, the source, the target's nodes), to tell a loader's own limit from the machine's.
 */
import { readFileSync, readdirSync } from 'node:fs';

interface ProcessInfo {
  /** Process group. */
  group: number;
  /** The command line as the process shows it (servers rewrite theirs: "redis-server 127.0.0.1:50001 [cluster]"). */
  title: string;
}

const TICKS = 100; // USER_HZ on Linux

/**
 * CPU seconds (user + system, and those of its children it has waited for: a server's forks) of every process that
 * `picks` selects.
 */
export function cpuSeconds(picks: (p: ProcessInfo) => boolean): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      // From the state (field 3): the process group is field 5; utime, stime, cutime and cstime fields 14 to 17.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (!picks({ group: Number(fields[2]), title })) continue;
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

/** The processes of one process group (a worker started in its own group, and its children). */
export const inGroup =
  (group: number) =>
  (p: ProcessInfo): boolean =>
    p.group === group;

/** The Redis or Valkey servers listening on these ports. */
export const serversOn =
  (ports: number[]) =>
  (p: ProcessInfo): boolean =>
    /(redis|valkey)-server/.test(p.title) && ports.some((port) => new RegExp(`:${port}\\b`).test(p.title));

type Picker = (p: ProcessInfo) => boolean;

/** CPU seconds of each group of processes at one moment. */
export interface CpuReading<G extends string> {
  atMs: number;
  seconds: Record<G, number>;
}

/**
 * CPU seconds by group over a phase, less what each group spends idle in as long (a cluster's nodes gossip and run
 * their timers when nothing loads them: over a phase timed from its run's start, that was a fifth of their figure).
 */
export class CpuMeter<G extends string> {
  private idlePerSecond?: Record<G, number>;

  constructor(private readonly groups: Record<G, Picker>) {}

  read(): CpuReading<G> {
    const seconds = {} as Record<G, number>;
    for (const group of Object.keys(this.groups) as G[]) seconds[group] = cpuSeconds(this.groups[group]);
    return { atMs: performance.now(), seconds };
  }

  /** Measures each group's idle CPU over `ms`: nothing else may run meanwhile. */
  async measureIdle(ms = 2000): Promise<void> {
    const before = this.read();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const after = this.read();
    const idle = {} as Record<G, number>;
    for (const group of Object.keys(this.groups) as G[])
      idle[group] = (after.seconds[group] - before.seconds[group]) / ((after.atMs - before.atMs) / 1000);
    this.idlePerSecond = idle;
  }

  /** CPU seconds each group spent since `from`, less its idle CPU over as long. */
  since(from: CpuReading<G>): Record<G, number> {
    const now = this.read();
    const window = (now.atMs - from.atMs) / 1000;
    const spent = {} as Record<G, number>;
    for (const group of Object.keys(this.groups) as G[])
      spent[group] = Math.max(
        0,
        now.seconds[group] - from.seconds[group] - (this.idlePerSecond?.[group] ?? 0) * window,
      );
    return spent;
  }
}
