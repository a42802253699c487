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
