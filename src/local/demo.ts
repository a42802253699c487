/**
 * The embedded default: a Temporal dev server (SQLite, Web UI on 8233), a SeaweedFS S3 store seeded with the
 * seed's eight configs rendered for 127.0.0.1, and a worker, all under .local/demo; then the workflow for the
 * seed topology on 127.0.0.1:50001-50008. Everything keeps running until `local down`.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { connectNode } from '../redis/connection';
import { type ClusterSpec, parseClusterSpec } from '../model';
import { fillEveryType } from './sample-data';
import { pidAlive, portOpen, stopPid } from '../host/processes';
import { startS3Server, startTemporalDevServer } from './dev-servers';
import { LOCAL_S3_ENV, localSeedSpec, seedConfigs } from './seed';
import { startStandaloneRedis } from '../host/redis-server';
import { WORKER_HEAP_FLAG } from '../settings';
import { PROJECT_ROOT } from '../host/tools';

export const DEMO_DIR = path.join(PROJECT_ROOT, '.local', 'demo');
const STATE_FILE = path.join(DEMO_DIR, 'state.json');
export const DEMO_PORTS = { temporal: 7233, ui: 8233, s3: 8333, legacy: 50010 };

interface DemoState {
  legacyPid?: number;
  temporalPid?: number;
  s3Pid?: number;
  workerPid?: number;
}

function readState(): DemoState {
  return existsSync(STATE_FILE) ? (JSON.parse(readFileSync(STATE_FILE, 'utf8')) as DemoState) : {};
}

function writeState(state: DemoState): void {
  mkdirSync(DEMO_DIR, { recursive: true });
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
}

/** The seed topology on 127.0.0.1, copying the legacy Redis into it ("skip": a second run writes nothing). */
export function demoSpec(): ClusterSpec {
  const spec = localSeedSpec({ stateDir: DEMO_DIR, s3Endpoint: `http://127.0.0.1:${DEMO_PORTS.s3}` });
  return parseClusterSpec({
    ...spec,
    migration: { source: { type: 'standalone', host: '127.0.0.1', port: DEMO_PORTS.legacy }, conflict: 'skip' },
  });
}

/** A standalone "legacy" Redis holding sample data of every type, with TTLs, filled once. */
async function startLegacy(state: DemoState, log: (line: string) => void): Promise<void> {
  if (state.legacyPid === undefined || !pidAlive(state.legacyPid)) {
    await ensureFree(DEMO_PORTS.legacy, 'legacy Redis');
    state.legacyPid = await startStandaloneRedis({
      port: DEMO_PORTS.legacy,
      dir: path.join(DEMO_DIR, 'legacy'),
      args: ['--appendonly', 'yes'],
    });
    log(`started legacy Redis (pid ${state.legacyPid}) on 127.0.0.1:${DEMO_PORTS.legacy}`);
  }
  const legacy = await connectNode({ host: '127.0.0.1', port: DEMO_PORTS.legacy });
  try {
    if ((await legacy.dbsize()) === 0) {
      await fillEveryType(legacy);
      log(`filled the legacy Redis with ${await legacy.dbsize()} keys of every type`);
    } else log(`legacy Redis holds ${await legacy.dbsize()} keys`);
  } finally {
    legacy.disconnect();
  }
}

async function ensureFree(port: number, what: string): Promise<void> {
  if (await portOpen(port))
    throw new Error(`port ${port} (${what}) is in use by a process the demo did not start; stop it first`);
}

/** Starts what is not running yet; returns the spec, written to .local/demo/seed-cluster.local.json. */
export async function demoUp(
  log: (line: string) => void,
): Promise<{ spec: ClusterSpec; specFile: string; temporalAddress: string }> {
  mkdirSync(DEMO_DIR, { recursive: true });
  const state = readState();
  const running = (pid?: number) => pid !== undefined && pidAlive(pid);

  if (!running(state.temporalPid)) {
    await ensureFree(DEMO_PORTS.temporal, 'Temporal');
    const temporal = await startTemporalDevServer({
      port: DEMO_PORTS.temporal,
      uiPort: DEMO_PORTS.ui,
      dbFile: path.join(DEMO_DIR, 'temporal.db'),
      stateDir: DEMO_DIR,
    });
    state.temporalPid = temporal.pid;
    log(
      `started Temporal dev server (pid ${temporal.pid}) on 127.0.0.1:${DEMO_PORTS.temporal}, Web UI on ${DEMO_PORTS.ui}`,
    );
  } else log(`Temporal dev server already running (pid ${state.temporalPid})`);
  writeState(state);

  if (!running(state.s3Pid)) {
    await ensureFree(DEMO_PORTS.s3, 'S3');
    const s3 = await startS3Server({ port: DEMO_PORTS.s3, stateDir: DEMO_DIR });
    state.s3Pid = s3.pid;
    log(`started S3 store (pid ${s3.pid}) on ${s3.address}`);
  } else log(`S3 store already running (pid ${state.s3Pid})`);
  writeState(state);

  await startLegacy(state, log);
  writeState(state);

  const spec = demoSpec();
  Object.assign(process.env, LOCAL_S3_ENV);
  const uploaded = await seedConfigs(spec, `http://127.0.0.1:${DEMO_PORTS.s3}`, DEMO_DIR);
  log(`seeded ${uploaded.length} configs under s3://quotemedia-backups/my-redis/`);
  const specFile = path.join(DEMO_DIR, 'seed-cluster.local.json');
  writeFileSync(specFile, JSON.stringify(spec, null, 2) + '\n');

  if (!running(state.workerPid)) {
    const logFile = path.join(DEMO_DIR, 'worker.log');
    const fd = openSync(logFile, 'a');
    // Under a supervisor: a worker that dies is started again, and its log says why it died.
    const worker = spawn(
      process.execPath,
      [require.resolve('tsx/cli'), path.join(PROJECT_ROOT, 'src', 'local', 'supervise.ts'), logFile],
      {
        cwd: PROJECT_ROOT,
        detached: true,
        stdio: ['ignore', fd, fd],
        env: {
          ...process.env,
          ...LOCAL_S3_ENV,
          TEMPORAL_ADDRESS: `127.0.0.1:${DEMO_PORTS.temporal}`,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${WORKER_HEAP_FLAG}`.trim(),
        },
      },
    );
    closeSync(fd);
    worker.unref();
    state.workerPid = worker.pid;
    log(`started worker under a supervisor (pid ${worker.pid}), log ${path.relative(process.cwd(), logFile)}`);
  } else log(`worker already running (pid ${state.workerPid})`);
  writeState(state);
  return { spec, specFile, temporalAddress: `127.0.0.1:${DEMO_PORTS.temporal}` };
}

/** Stops everything `demoUp` started, by pid: worker, redis nodes, S3 store, Temporal. Keeps the data. */
export async function demoDown(log: (line: string) => void): Promise<void> {
  const state = readState();
  const stop = async (name: string, pid?: number, group = false) => {
    if (pid === undefined || !pidAlive(pid)) return;
    await stopPid(group ? -pid : pid);
    log(`stopped ${name} (pid ${pid})`);
  };
  // The worker runs under its supervisor and tsx, each starting the next as a child: stop the whole process group.
  await stop('worker', state.workerPid, true);
  const dataDir = path.join(DEMO_DIR, 'data');
  for (const port of existsSync(dataDir) ? readdirSync(dataDir) : []) {
    const pidFile = path.join(dataDir, port, `redis-${port}.pid`);
    if (existsSync(pidFile))
      await stop(`redis-server :${port}`, Number(readFileSync(pidFile, 'utf8').trim()) || undefined);
  }
  await stop('legacy Redis', state.legacyPid);
  await stop('S3 store', state.s3Pid);
  await stop('Temporal dev server', state.temporalPid);
  rmSync(STATE_FILE, { force: true });
}
