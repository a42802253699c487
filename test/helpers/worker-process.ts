/** The real worker as its own OS process, so that a test can SIGKILL it like a crash would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { LOCAL_S3_ENV } from '../../src/local/seed';
import { PROJECT_ROOT } from '../../src/host/tools';

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves once the worker polls its task queue. */
  ready: Promise<void>;
}

/**
 * The worker from src/worker.ts, or another entry: TypeScript runs through tsx, JavaScript (`node lib/worker.js`,
 * as the Dockerfile runs it) directly with the given node flags; `args` go to the worker.
 */
export function startWorkerProcess(
  temporalAddress: string,
  env: Record<string, string> = {},
  launch: { entry?: string; nodeFlags?: string[]; args?: string[]; prefix?: string[] } = {},
): WorkerProcess {
  const entry = launch.entry ?? path.join(PROJECT_ROOT, 'src', 'worker.ts');
  const node = [
    process.execPath,
    ...(entry.endsWith('.ts') ? [require.resolve('tsx/cli'), entry] : [...(launch.nodeFlags ?? []), entry]),
    ...(launch.args ?? []),
  ];
  // prefix: a command that runs the worker, e.g. `ip netns exec <namespace>`.
  const [command, ...args] = [...(launch.prefix ?? []), ...node];
  const child = spawn(command!, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...LOCAL_S3_ENV, TEMPORAL_ADDRESS: temporalAddress, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: tsx runs the worker in a child process, and a crash must take both.
    detached: true,
  });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('worker polling')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`worker exited with ${code} before polling:\n${output}`)));
  });
  return { child, output: () => output, ready };
}

/** SIGKILL to the worker's whole process group, as a crash of the machine's worker would be. */
export function killWorker(worker: WorkerProcess): Promise<void> {
  return new Promise((resolve) => {
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) return resolve();
    worker.child.once('exit', () => resolve());
    process.kill(-worker.child.pid!, 'SIGKILL');
  });
}

/**
 * The highest peak RSS (VmHWM, MB) of the worker's processes (tsx runs the worker in a child of its own): the worker
 * itself, since tsx's own process stays small.
 */
export function workerPeakRssMb(worker: WorkerProcess): number {
  let peak = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      // Field 5 of /proc/<pid>/stat is the process group; the name in field 2 may hold spaces, so count from ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== worker.child.pid) continue;
      const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      peak = Math.max(peak, kb / 1024);
    } catch {
      // gone meanwhile
    }
  }
  return peak;
}
