/**
 * A worker kept running: started again when it dies (a crash, the kernel's OOM killer, a kill), each exit logged
 * with its cause and the worker's last error line; at most 5 restarts a minute, then it gives up and says so (a
 * worker that cannot start would only spin). The demo runs its worker under it. It ends, with its worker, on SIGTERM.
 *
 *   tsx src/local/supervise.ts <log file>    (the worker's environment is this process's)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../host/tools';

const MAX_RESTARTS_PER_MINUTE = 5;

/** The last line of the log that says why a Node process died (heap exhausted, an uncaught error). */
function lastErrorLine(logFile: string, from: number): string | undefined {
  const size = statSync(logFile).size;
  const start = Math.max(from, size - 16_384);
  const fd = openSync(logFile, 'r');
  try {
    const buffer = Buffer.alloc(size - start);
    const tail = buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, start)).toString();
    return tail
      .split('\n')
      .reverse()
      .find((line) => /FATAL ERROR|Error:|out of memory/i.test(line))
      ?.trim();
  } finally {
    closeSync(fd);
  }
}

export function superviseWorker(logFile: string): void {
  const say = (line: string) => appendFileSync(logFile, `[supervisor ${new Date().toISOString()}] ${line}\n`);
  const exits: number[] = [];
  let worker: ChildProcess | undefined;
  let stopping = false;
  const start = () => {
    const from = statSync(logFile, { throwIfNoEntry: false })?.size ?? 0;
    const fd = openSync(logFile, 'a');
    // tsx as a loader, not its CLI: the worker is this child itself, so its exit (or its kill) is seen here.
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'worker.ts')], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', fd, fd],
      env: process.env,
    });
    closeSync(fd);
    worker = child;
    say(`started worker pid ${child.pid}`);
    child.on('exit', (code, signal) => {
      if (stopping) return;
      const why = signal
        ? `signal ${signal}${signal === 'SIGKILL' ? ' (killed, or the kernel OOM killer)' : ''}`
        : `code ${code}`;
      const error = lastErrorLine(logFile, from);
      exits.push(Date.now());
      while (exits.length > 0 && Date.now() - exits[0]! > 60_000) exits.shift();
      if (exits.length > MAX_RESTARTS_PER_MINUTE) {
        say(
          `worker pid ${child.pid} exited (${why})${error ? `: ${error}` : ''}; ${exits.length} exits within a minute, not restarting it`,
        );
        process.exit(1);
      }
      say(`worker pid ${child.pid} exited (${why})${error ? `: ${error}` : ''}; restarting it`);
      setTimeout(start, 1000);
    });
  };
  const stop = () => {
    stopping = true;
    worker?.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  start();
}

if (require.main === module) {
  const logFile = process.argv[2];
  if (!logFile) {
    console.error('usage: supervise.ts <log file>');
    process.exit(2);
  }
  superviseWorker(logFile);
}
