/**
 * Keys of any size: a source with one hash of 500,000 fields, a sorted set of 100,000 members and a stream of 50,000
 * entries with a consumer group and pending entries (RCO_BIG_* raise them: the 3,000,000-field case was run so),
 * copied live (the snapshot's big values built in pieces under a temporary key, then renamed) and by snapshot,
 * verified piece by piece and compared key by key. The worker runs as its own process with its heap cap, its peak RSS
 * under the documented ceiling; in the middle of the big hash it is SIGKILLed, and a new worker finishes the run.
 */
import type Redis from 'ioredis';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { RedisClusterClient, migrationWorkflowId } from '../../src/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { withSpecAccess } from '../../src/cluster/access';
import { verifyShardKeys } from '../../src/migration/verify';
import { type ClusterSpec, adminAddress, masters, parseClusterSpec } from '../../src/model';
import { temporaryKeyFor } from '../../src/redis/build-in-pieces';
import { SlotMap } from '../../src/redis/slot-map';
import { WORKER_HEAP_FLAG } from '../../src/settings';
import { compareAllKeys, fillBigHash, keysOnlyInTarget } from '../helpers/dataset';
import { stopTestServers } from '../helpers/servers';
import { PROJECT_ROOT } from '../../src/host/tools';
import { type Stack, seedTopology, startPlainSource, startStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { type WorkerProcess, killWorker, startWorkerProcess, workerPeakRssMb } from '../helpers/worker-process';

const HASH_FIELDS = Number(process.env.RCO_BIG_HASH_FIELDS ?? 500_000);
const ZSET_MEMBERS = Number(process.env.RCO_BIG_ZSET_MEMBERS ?? 100_000);
const STREAM_ENTRIES = Number(process.env.RCO_BIG_STREAM_ENTRIES ?? 50_000);
/** The worker's documented ceiling (README: worker memory), with its 192 MB heap cap. */
const RSS_CEILING_MB = 300;

let stack: Stack;
let client: RedisClusterClient;
let source: Redis;
let worker: WorkerProcess;
const workers: WorkerProcess[] = [];
let peakRss = 0;

/**
 * The worker as the Dockerfile runs it: compiled (`npm run build`), its heap capped, the workflows prebuilt. (Through
 * tsx it idles near 250 MB instead of 190, and webpack at start peaks near 380 MB.)
 */
function startWorker(): WorkerProcess {
  worker = startWorkerProcess(
    stack.temporal.address,
    { RCO_WORKFLOW_BUNDLE: path.join(PROJECT_ROOT, 'lib', 'workflow-bundle.js') },
    { entry: path.join(PROJECT_ROOT, 'lib', 'worker.js'), nodeFlags: [WORKER_HEAP_FLAG] },
  );
  workers.push(worker);
  return worker;
}

beforeAll(async () => {
  stack = await startStack('big-keys');
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
  source = await startPlainSource(stack, 'source', ['--repl-diskless-sync-delay', '0']);
  await fillBigHash(source, 'big:hash', HASH_FIELDS);
  for (let start = 0; start < ZSET_MEMBERS; start += 10_000) {
    const args: (string | number)[] = [];
    for (let i = start; i < Math.min(start + 10_000, ZSET_MEMBERS); i++) args.push(i / 7, `member:${i}`);
    await source.zadd('big:zset', ...args);
  }
  for (let start = 0; start < STREAM_ENTRIES; start += 10_000) {
    const pipeline = source.pipeline();
    for (let i = start; i < Math.min(start + 10_000, STREAM_ENTRIES); i++)
      pipeline.xadd('big:stream', '*', 'n', String(i));
    await pipeline.exec();
  }
  await source.xgroup('CREATE', 'big:stream', 'readers', '0');
  await source.xreadgroup('GROUP', 'readers', 'r1', 'COUNT', 5000, 'STREAMS', 'big:stream', '>');
  await source.set('small', 'v');
  const build = spawnSync('npm', ['run', 'build'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`);
  await startWorker().ready;
}, 300_000);

afterEach(() => {
  peakRss = Math.max(peakRss, workerPeakRssMb(worker));
  console.log(`big keys: worker peak RSS so far ${peakRss.toFixed(0)} MB`);
  expect(peakRss).toBeLessThan(RSS_CEILING_MB);
});

afterAll(async () => {
  source?.disconnect();
  await Promise.all(workers.map(killWorker));
  await client?.close();
  await stopTestServers();
  await stack?.stop();
});

const targets = (spec: ClusterSpec) => masters(spec).map(adminAddress);
const liveMigration = (spec: ClusterSpec) => ({
  ...spec,
  migration: {
    mode: 'live' as const,
    source: { type: 'standalone' as const, host: '127.0.0.1', port: source.options.port! },
  },
});

async function provisioned(name: string): Promise<ClusterSpec> {
  const spec = await seedTopology(stack, name);
  await client.provision(spec);
  await client.result(spec.name);
  return spec;
}

const untilStreaming = (spec: ClusterSpec) =>
  waitFor(
    'the source streaming',
    async () =>
      (await client.progress(migrationWorkflowId(spec.name))).migration?.sync?.[0]?.phase === 'streaming'
        ? true
        : undefined,
    240_000,
  );

/** Cutover with a verify of every key, then every key compared both ways. */
async function cutoverAndCompare(spec: ClusterSpec): Promise<void> {
  const report = await client.cutover(spec.name, { verify: 'all' });
  expect(report.differences).toEqual([]);
  const { compared, differences } = await compareAllKeys([source], targets(spec), { replicated: true });
  expect(differences).toEqual([]);
  expect(compared).toBe(4);
  // And the other way: nothing in the target that the source lacks (a temporary key left behind, say).
  expect(await keysOnlyInTarget([source], targets(spec))).toEqual([]);
}

test('live: big values built in pieces; streams, cuts over verified; every key equal', async () => {
  const spec = await provisioned('big-live');
  const started = Date.now();
  await client.migrate(liveMigration(spec));
  await untilStreaming(spec);
  const loaded = (Date.now() - started) / 1000;
  console.log(`big keys live: ${HASH_FIELDS}-field hash streaming after ${loaded.toFixed(1)} s`);
  await cutoverAndCompare(spec);
}, 400_000);

let snapshotTarget: ClusterSpec;

test('snapshot: big keys copied piece by piece, verified piece by piece; every key equal', async () => {
  const spec = await provisioned('big-snapshot');
  snapshotTarget = spec;
  await client.migrate({
    ...spec,
    migration: {
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
      verify: { all: true, sample: 0 },
    },
  });
  const result = await client.migrationResult(spec.name);
  expect(result.migration.unequal).toEqual([]);
  expect(result.migration.shards[0]!.bigKeys).toBeGreaterThanOrEqual(1);
  const { compared, differences } = await compareAllKeys([source], targets(spec));
  expect(differences).toEqual([]);
  expect(compared).toBe(4);
  expect(await keysOnlyInTarget([source], targets(spec))).toEqual([]);
}, 400_000);

test('verify cut off in the middle of the big hash goes on from its last piece, not from the start', async () => {
  const spec = parseClusterSpec({
    ...snapshotTarget,
    migration: {
      source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! },
      verify: { all: true, sample: 0 },
    },
  });
  const port = source.options.port!;
  const input = {
    spec,
    shard: { id: `127.0.0.1:${port}/db0`, host: '127.0.0.1', port, db: 0, prefix: '', keys: 4 },
    all: true,
  };
  const hscans = async () =>
    Number(/cmdstat_hscan:calls=(\d+)/.exec((await source.info('commandstats')) as string)?.[1] ?? 0);
  const pieces = Math.ceil(HASH_FIELDS / 1000);

  // The first attempt: cut off (as by a worker's death) after a third of the hash's pieces.
  const first = new MockActivityEnvironment();
  let checkpoint: unknown;
  let hashPieces = 0;
  first.on('heartbeat', (details: { comparing?: string; checkpoint?: unknown }) => {
    if (details?.comparing === 'big:hash' && ++hashPieces >= pieces / 3) {
      checkpoint = details;
      throw new Error('cut off');
    }
  });
  await expect(withSpecAccess(spec, () => first.run(verifyShardKeys, input))).rejects.toThrow('cut off');
  expect(checkpoint).toMatchObject({
    checkpoint: { pieces: { [Buffer.from('big:hash').toString('base64')]: expect.any(String) } },
  });

  // The retry, given the last heartbeat: the rest of the hash only, and the full result.
  const before = await hscans();
  const retry = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: checkpoint });
  const result = await withSpecAccess(spec, () => retry.run(verifyShardKeys, input));
  const scanned = (await hscans()) - before;
  console.log(`big keys: verify resumed with ${scanned} of about ${pieces} HSCAN pieces of the big hash left`);
  expect(scanned).toBeLessThan(pieces * 0.8);
  expect(result).toMatchObject({ checked: 4, differencesFound: 0 });
}, 400_000);

test('live: the worker SIGKILLed in the middle of the big hash; a new worker finishes the run, nothing lost', async () => {
  const spec = await provisioned('big-kill');
  const handle = await client.migrate(liveMigration(spec));
  const map = new SlotMap(targets(spec));
  await map.refresh();
  const tmp = temporaryKeyFor(Buffer.from('big:hash'))!;
  const owner = await map.client(map.ownerOf(tmp));
  // Killed once a third of the hash is in its temporary key.
  const built = await waitFor(
    'the big hash half built',
    async () => {
      const fields = await owner.hlen(tmp);
      return fields >= HASH_FIELDS / 3 ? fields : undefined;
    },
    120_000,
  );
  map.close();
  peakRss = Math.max(peakRss, workerPeakRssMb(worker));
  await killWorker(worker);
  console.log(`big keys: worker SIGKILLed with ${built} of ${HASH_FIELDS} fields built`);
  await startWorker().ready;
  await untilStreaming(spec);
  expect((await handle.describe()).runId).toBe(handle.firstExecutionRunId);
  await cutoverAndCompare(spec);
}, 400_000);
