/**
 * A real stack for integration tests: a Temporal CLI dev server and an S3-compatible server on free loopback
 * ports, the seed topology's configs uploaded to it, and helpers to stop every redis-server the run started.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import Redis from 'ioredis';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type LocalServer, startS3Server, startTemporalDevServer } from '../../src/local/dev-servers';
import { freePort, portOpen, stopPid } from '../../src/host/processes';
import { LOCAL_S3_ENV, localSeedSpec, seedConfigs } from '../../src/local/seed';
import type { ClusterSpec } from '../../src/model';
import { startTestRedis } from './servers';

export interface Stack {
  stateDir: string;
  temporal: LocalServer;
  /** Stops the Temporal dev server, waits, starts it again on its port and SQLite file (persistent stacks). */
  restartTemporal(downMs: number): Promise<void>;
  /** The Temporal Web UI, when asked for. */
  uiAddress?: string;
  s3: LocalServer;
  stop(): Promise<void>;
}

/**
 * ui: with the Web UI; persistent: Temporal keeps its state in a SQLite file, so that it can be restarted;
 * dynamicConfig: the dev server's dynamic config values.
 */
export async function startStack(
  prefix: string,
  options: { ui?: boolean; persistent?: boolean; dynamicConfig?: Record<string, unknown> } = {},
): Promise<Stack> {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), `rco-${prefix}-`));
  Object.assign(process.env, LOCAL_S3_ENV);
  const uiPort = options.ui ? await freePort() : undefined;
  const dbFile = options.persistent ? path.join(stateDir, 'temporal.db') : undefined;
  const temporalPort = await freePort();
  const startTemporal = () =>
    startTemporalDevServer({ port: temporalPort, stateDir, uiPort, dbFile, dynamicConfig: options.dynamicConfig });
  const [temporal, s3] = await Promise.all([
    startTemporal(),
    freePort().then((port) => startS3Server({ port, stateDir })),
  ]);
  const stack: Stack = {
    stateDir,
    temporal,
    uiAddress: uiPort ? `http://127.0.0.1:${uiPort}` : undefined,
    s3,
    async restartTemporal(downMs) {
      if (!dbFile) throw new Error('restartTemporal needs a persistent stack');
      await stack.temporal.stop();
      await new Promise((r) => setTimeout(r, downMs));
      stack.temporal = await startTemporal();
    },
    async stop() {
      await stopRedisNodes(stateDir);
      await Promise.all([stack.temporal.stop(), s3.stop()]);
      if (!process.env.RCO_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return stack;
}

/**
 * A block of free consecutive ports whose bus ports (+10000) are free too, all below the kernel's ephemeral
 * range (32768+), so that no outgoing connection or freePort() server can be holding one by chance.
 */
export async function freePortBlock(count = 8): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 12000 + Math.floor(Math.random() * 10000);
    const checks = await Promise.all(
      Array.from({ length: count }, (_, i) => [portOpen(base + i), portOpen(base + i + 10000)]).flat(),
    );
    if (checks.every((open) => !open)) return base;
  }
  throw new Error('no free block of ports');
}

/** The seed topology on a free port block, its configs seeded into the stack's S3 store. */
export async function seedTopology(
  stack: Stack,
  name = 'seed',
  settings: Partial<ClusterSpec> = {},
): Promise<ClusterSpec> {
  const base = await freePortBlock();
  // Each spec its own folders, so that tests in one file never see each other's config files.
  const stateDir = path.join(stack.stateDir, name);
  const spec = {
    ...localSeedSpec({ stateDir, s3Endpoint: stack.s3.address, portOffset: base - 50001, name }),
    ...settings,
  };
  await seedConfigs(spec, stack.s3.address, stateDir);
  return spec;
}

/** Stops every redis-server whose pid file lies under stateDir (the nodes the tests' workflows started). */
export async function stopRedisNodes(stateDir: string): Promise<void> {
  const pids: number[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/^redis-\d+\.pid$/.test(entry.name)) pids.push(Number(readFileSync(full, 'utf8').trim()));
    }
  };
  try {
    walk(stateDir);
  } catch {
    return;
  }
  await Promise.all(pids.filter((pid) => pid > 0).map((pid) => stopPid(pid)));
}

let bundle: Promise<{ code: string }> | undefined;
/** Workflow code bundled once per test file. */
export function workflowBundle(): Promise<{ code: string }> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (message: string) => console.error(message),
};

/** The seed topology with configs rendered from the spec (`render:`), data under the stack's folder. */
export async function renderedTopology(stack: Stack, name: string): Promise<ClusterSpec> {
  const seed = await seedTopology(stack, name);
  return {
    ...seed,
    dataDir: path.join(stack.stateDir, name, 'data'),
    nodes: seed.nodes.map((node) => ({ ...node, config: 'render:' })),
  };
}

/** A plain standalone redis-server (no cluster mode) on a free port, and a client to it; `extra`: more arguments. */
export async function startPlainSource(stack: Stack, name: string, extra: string[] = []): Promise<Redis> {
  const port = await freePortBlock(1);
  await startTestRedis(port, path.join(stack.stateDir, name), ['--cluster-enabled', 'no', ...extra]);
  return new Redis({ host: '127.0.0.1', port });
}
