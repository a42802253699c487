/**
 * The ways users start and watch a run, each exactly as the README writes it, against a real dev server (with our
 * search attributes registered), a real worker process, real redis-servers and a real S3 store:
 * - `bin/rco plan` on nodes that do not exist yet (lists every change, starts nothing);
 * - the README's `temporal workflow start/query/result/list` lines, and its pause/resume/throttle lines on a
 *   provisioning run with a migration, checked through the progress query;
 * - `bin/rco watch --json` and `bin/rco list --json`; the worker's log lines for every activity;
 * - `bin/rco plan` afterwards (nothing to change), and the README's programmatic example.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import YAML from 'yaml';
import { RedisClusterClient } from '../../src/client';
import { freePort, portOpen } from '../../src/host/processes';
import { startTemporalDevServer } from '../../src/local/dev-servers';
import { PROJECT_ROOT, toolPath } from '../../src/host/tools';
import type { ClusterSpec } from '../../src/model';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { type Stack, freePortBlock, seedTopology, startStack } from '../helpers/stack';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

const README = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
const SOURCE_KEYS = 100_000;

let stack: Stack;
let client: RedisClusterClient;
let worker: WorkerProcess;
let spec: ClusterSpec;
let specFile: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A shell line run the way a user would, against the test's dev server. */
function sh(line: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      TEMPORAL_ADDRESS: stack.temporal.address,
      PATH: `${path.dirname(toolPath('temporal'))}:${process.env.PATH}`,
    };
    execFile('bash', ['-c', line], { cwd: PROJECT_ROOT, env, timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(line: string): Promise<string> {
  const run = await sh(line);
  if (run.code !== 0) throw new Error(`${line}\nexit ${run.code}\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

/** The README's `temporal ...` commands (continuation lines joined), for this test's cluster and spec file. */
function readmeCommands(prefix: string): string[] {
  const lines = README.replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((line) => line.startsWith(prefix));
  if (lines.length === 0) throw new Error(`the README has no line starting with "${prefix}"`);
  return lines.map((line) =>
    line.replaceAll('.local/demo/seed-cluster.local.json', specFile).replaceAll('my-redis', spec.name),
  );
}

function readmeCommand(prefix: string, containing = ''): string {
  const line = readmeCommands(prefix).find((l) => l.includes(containing));
  if (!line) throw new Error(`the README has no "${prefix}" line with "${containing}"`);
  return line;
}

const rco = (args: string) => `npx tsx src/cli/index.ts ${args}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  stack = await startStack('temporal-cli');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
  worker = startWorkerProcess(stack.temporal.address);
  const base = await seedTopology(stack, 'cli');
  const sourcePort = await freePortBlock(1);
  await startTestRedis(sourcePort, path.join(stack.stateDir, `source-${sourcePort}`), ['--cluster-enabled', 'no']);
  const source = new Redis({ host: '127.0.0.1', port: sourcePort });
  for (let start = 0; start < SOURCE_KEYS; start += 10_000) {
    const pipeline = source.pipeline();
    for (let i = start; i < start + 10_000; i++) pipeline.set(`cli:${i}`, `value-${i}`);
    await pipeline.exec();
  }
  source.disconnect();
  // Starts slow (2,000 keys/s) so that the controls below act while the copy runs.
  spec = {
    ...base,
    migration: {
      ...base.migration,
      source: { type: 'standalone', host: '127.0.0.1', port: sourcePort },
      keysPerSecond: 2000,
    },
  } as ClusterSpec;
  specFile = path.join(stack.stateDir, 'cli-spec.json');
  writeFileSync(specFile, JSON.stringify(spec, null, 2));
  await worker.ready;
});

afterAll(async () => {
  if (worker) await killWorker(worker);
  await client?.close();
  await stopTestServers();
  await stack?.stop();
});

test('rco plan on nodes that do not exist lists every change and starts nothing', async () => {
  const plan = JSON.parse(await ok(rco(`plan ${specFile} --json`)));
  expect(plan.refusals).toEqual([]);
  const byStep = (step: string) => plan.changes.filter((c: { step: string }) => c.step === step);
  expect(byStep('fetchConfigs')).toHaveLength(8);
  expect(byStep('startNodes')).toHaveLength(8);
  expect(byStep('assignSlots').map((c: { change: string }) => c.change)).toEqual([
    'add slots 0-4095 (4096 slots)',
    'add slots 4096-8191 (4096 slots)',
    'add slots 8192-12287 (4096 slots)',
    'add slots 12288-16383 (4096 slots)',
  ]);
  expect(byStep('formCluster')).toHaveLength(8); // four config epochs, four masters meeting the others
  expect(byStep('replicateNodes')).toHaveLength(4);
  // The seeded configs already carry cluster-replica-no-failover yes: the run changes nothing there, nor does the plan.
  expect(byStep('setNoFailover')).toHaveLength(0);
  expect(byStep('migrateData')).toHaveLength(1);
  for (const node of spec.nodes) expect(await portOpen(node.port)).toBe(false);
});

test("the README's temporal commands: start, query, pause/resume/throttle a migration, result, list", async () => {
  const id = `redis-cluster-${spec.name}`;
  await ok(readmeCommand('temporal workflow start', 'provisionRedisCluster'));

  // Watch it from our CLI meanwhile: one JSON snapshot per line, ending with the final status.
  const watching = sh(rco(`watch ${spec.name} --json`), 300_000);

  await waitFor('the copy to start', async () => {
    const p = await client.progress(spec.name);
    return (p.migration?.shards[0]?.scanned ?? 0) > 0 || undefined;
  });
  const queried = await ok(readmeCommand('temporal workflow query', '--type progress'));
  expect(queried).toContain('"currentStep":"migrateData"');
  // The step is also a search attribute: the run is found by it.
  const listed = await ok(`${readmeCommand('temporal workflow list', 'RedisClusterStep')} -o json`);
  expect(listed).toContain(id);

  expect(await ok(readmeCommand('temporal workflow update execute', '--input 5000'))).toContain('5000');
  expect((await client.progress(spec.name)).migration?.keysPerSecond).toBe(5000);

  await ok(readmeCommand('temporal workflow signal', '--name pause'));
  expect((await client.progress(spec.name)).migration?.paused).toBe(true);
  await sleep(6000); // the chunk running when the signal came ends within 5 s
  const pausedAt = (await client.progress(spec.name)).migration!.shards[0]!.scanned;
  await sleep(2000);
  expect((await client.progress(spec.name)).migration!.shards[0]!.scanned).toBe(pausedAt);
  expect(pausedAt).toBeLessThan(SOURCE_KEYS);

  await ok(readmeCommand('temporal workflow signal', '--name resume'));
  // The CLI prints a null result as <nil>: no limit any more.
  expect(await ok(readmeCommand('temporal workflow update execute', '--input null'))).toMatch(/Result\s+<nil>/);
  const resumed = (await client.progress(spec.name)).migration;
  expect(resumed?.paused).toBe(false);
  expect(resumed?.keysPerSecond).toBeUndefined();

  const result = await ok(readmeCommand('temporal workflow result'));
  expect(result).toMatch(/COMPLETED/);
  const report = await client.result(spec.name);
  expect(report.report.clusterState).toBe('ok');
  expect(report.migration!.shards[0]!.copied).toBe(SOURCE_KEYS);

  const byCluster = JSON.parse(await ok(`${readmeCommand('temporal workflow list', 'RedisCluster=')} -o json`));
  expect(byCluster.map((run: { execution: { workflowId: string } }) => run.execution.workflowId)).toEqual([id]);
  const listedByUs = JSON.parse(await ok(rco(`list --cluster ${spec.name} --json`)));
  expect(listedByUs).toEqual([{ workflowId: id, status: 'COMPLETED', type: 'provisionRedisCluster', step: 'done' }]);

  const watched = await watching;
  expect(watched.code).toBe(0);
  const snapshots = watched.stdout.trim().split('\n');
  expect(JSON.parse(snapshots.at(-1)!)).toEqual({ run: id, status: 'COMPLETED' });
  const steps = new Set(
    snapshots.filter((l) => l.startsWith('{"cluster"')).map((l) => JSON.parse(l).currentStep as string | undefined),
  );
  expect(steps).toContain('migrateData');

  // Every activity that ran logged what it found and changed, through the Temporal logger.
  for (const name of ['inspectNodes', 'fetchConfigs', 'startNodes', 'assignSlots', 'formCluster', 'verifyCluster'])
    expect(worker.output()).toContain(`${name} finished`);
  expect(worker.output()).toMatch(/slots assigned \{[^}]*node: 'm1'/);
});

test('rco plan on the finished cluster: nothing to change', async () => {
  const plan = JSON.parse(await ok(rco(`plan ${specFile} --json`)));
  expect(plan.refusals).toEqual([]);
  // Only the migration would run again (with conflict "replace" it copies the keys once more).
  expect(plan.changes.filter((c: { step: string }) => c.step !== 'migrateData')).toEqual([]);
  expect(plan.nodes.map((n: { state: string }) => n.state)).toEqual(Array(8).fill('member'));
  const human = await ok(rco(`plan ${specFile}`));
  expect(human).toContain('m1=member');
});

test("the README's programmatic example runs as printed", async () => {
  const example = readFileSync(path.join(PROJECT_ROOT, 'examples', 'from-a-service.ts'), 'utf8');
  expect(README).toContain(example.trim());
  // The same cluster without the migration section: a second run that finds everything in place.
  const plainSpec = path.join(stack.stateDir, 'cli-spec-plain.json');
  writeFileSync(plainSpec, JSON.stringify({ ...spec, migration: undefined }));
  const output = await ok(`npx tsx examples/from-a-service.ts ${plainSpec}`);
  expect(output).toContain(`run redis-cluster-${spec.name}`);
  expect(output).toContain(`cluster ${spec.name}: ok, 8 nodes`);
});

test("docker-compose's search-attribute registration works on a server without them, and again", async () => {
  const compose = YAML.parse(readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8'));
  const command: string = compose.services['register-search-attributes'].command.join(' ');
  const bare = await startTemporalDevServer({ port: await freePort(), stateDir: stack.stateDir, searchAttributes: {} });
  try {
    const list = `TEMPORAL_ADDRESS=${bare.address} temporal operator search-attribute list`;
    expect(await ok(list)).not.toContain('RedisCluster');
    for (let run = 0; run < 2; run++) await ok(`TEMPORAL_ADDRESS=${bare.address} sh -c '${command}'`);
    expect(await ok(list)).toMatch(
      /RedisCluster\s+Keyword[^]*RedisClusterStep\s+Keyword|RedisClusterStep\s+Keyword[^]*RedisCluster\s+Keyword/,
    );
  } finally {
    await bare.stop();
  }
});
