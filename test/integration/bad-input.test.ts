/**
 * Bad input against the real stack: each case is a non-retryable failure whose message names the node or field
 * and the problem, and nothing on any node is touched (no node started, no config written, data left as it was).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RedisClusterClient } from '../../src/client';
import { freePort, stopPid } from '../../src/host/processes';
import { portHolders } from '../../src/host/ports';
import { startRedisServer } from '../../src/host/redis-server';
import { localS3Client } from '../../src/local/seed';
import { parseInfo } from '../../src/redis/cluster-nodes';
import { withNode } from '../../src/redis/connection';
import { type ClusterSpec, type ClusterSpecInput, ErrorType, renderNodeConf } from '../../src/model';
import { parseS3Uri } from '../../src/model';
import { noNodeRunning } from '../helpers/cluster-assert';
import { expectRefusal, rootApplicationFailure } from '../helpers/failures';
import { startNonRedis, startTestRedis, stopTestServers } from '../helpers/servers';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { type Stack, freePortBlock, seedTopology } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

Runtime.install({ logger: new DefaultLogger('WARN') });

let stack: Stack;
let client: RedisClusterClient;
let running: RunningStack;
let counter = 0;

beforeAll(async () => {
  running = await startRunningStack('bad-input');
  ({ stack, client } = running);
});

afterAll(async () => {
  await running?.stop();
});

afterEach(() => stopTestServers());

function refusal(spec: ClusterSpecInput) {
  return expectRefusal(client.client, 'provisionRedisCluster', `bad-input-${++counter}`, spec);
}

async function freshSpec(): Promise<ClusterSpec> {
  return seedTopology(stack, `bad-${++counter}`);
}

function configFilesWritten(spec: ClusterSpec): string[] {
  return existsSync(spec.configDir) ? readdirSync(spec.configDir) : [];
}

const withNodes = (spec: ClusterSpec, change: (nodes: ClusterSpec['nodes']) => void): ClusterSpec => {
  const copy = structuredClone(spec);
  change(copy.nodes);
  return copy;
};

describe('invalid specs fail in the validate step, before any I/O', () => {
  test('overlapping slots', async () => {
    const spec = withNodes(await freshSpec(), (nodes) => (nodes[1]!.slots = ['4000-8191']));
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.InvalidSpec);
    expect(failure.message).toContain('overlapping slots: 4000-4095 assigned to both m1 and m2');
    expect(await noNodeRunning(spec)).toBe(true);
  });

  test('uncovered slots', async () => {
    const spec = withNodes(await freshSpec(), (nodes) => (nodes[3]!.slots = ['12288-16000']));
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.InvalidSpec);
    expect(failure.message).toContain('uncovered slots: 16001-16383');
  });

  test('replica of an unknown master', async () => {
    const spec = withNodes(await freshSpec(), (nodes) => (nodes[4]!.replicaOf = 'm9'));
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.InvalidSpec);
    expect(failure.message).toMatch(/nodes\[4\] r1 .*replicaOf "m9" is not a node of this spec/);
  });

  test('duplicate port', async () => {
    const spec = withNodes(await freshSpec(), (nodes) => (nodes[7]!.port = nodes[6]!.port));
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.InvalidSpec);
    expect(failure.message).toMatch(/nodes\[7\] r4 .*duplicate port \d+ on 127\.0\.0\.1, already used by r3/);
  });
});

describe('bad configs fail before any config is written or node started', () => {
  test('config object missing in S3', async () => {
    const spec = withNodes(
      await freshSpec(),
      (nodes) => (nodes[5]!.config = 's3://quotemedia-backups/my-redis/missing.conf'),
    );
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.ConfigNotFound);
    expect(failure.message).toContain('r2 (127.0.0.1:');
    expect(failure.message).toContain('s3://quotemedia-backups/my-redis/missing.conf does not exist');
    expect(configFilesWritten(spec)).toEqual([]);
    expect(await noNodeRunning(spec)).toBe(true);
  });

  async function uploadConfig(uri: string, body: string) {
    const s3 = localS3Client(stack.s3.address);
    const { bucket, key } = parseS3Uri(uri);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    s3.destroy();
  }

  test("config whose port differs from the node's", async () => {
    const spec = await freshSpec();
    const m1 = spec.nodes[0]!;
    const dataDir = path.join(stack.stateDir, 'x');
    await uploadConfig(
      m1.config,
      renderNodeConf({ port: m1.port + 100, bind: '127.0.0.1', dataDir, replica: false, nofailover: true }),
    );
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.ConfigInvalid);
    expect(failure.message).toContain(
      `m1 (127.0.0.1:${m1.port}): config ${m1.config} has port ${m1.port + 100}, but the spec puts this node on port ${m1.port}`,
    );
    expect(configFilesWritten(spec)).toEqual([]);
    expect(await noNodeRunning(spec)).toBe(true);
  });

  test('config without cluster-enabled yes', async () => {
    const spec = await freshSpec();
    const r3 = spec.nodes[6]!;
    const text = renderNodeConf({
      port: r3.port,
      bind: '127.0.0.1',
      dataDir: stack.stateDir,
      replica: true,
      nofailover: true,
    });
    await uploadConfig(r3.config, text.replace('cluster-enabled yes', 'cluster-enabled no'));
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.ConfigInvalid);
    expect(failure.message).toContain(`r3 (127.0.0.1:${r3.port}): config ${r3.config} lacks "cluster-enabled yes"`);
    expect(configFilesWritten(spec)).toEqual([]);
  });
});

test('an S3 store that refuses connections: the run fails within five attempts, naming the object, node and endpoint', async () => {
  const spec = await freshSpec();
  const closed = await freePort(); // nothing listens there
  const endpoint = `http://127.0.0.1:${closed}`;
  const started = Date.now();
  const handle = await client.client.workflow.start('provisionRedisCluster', {
    taskQueue: 'redis-cluster',
    workflowId: `bad-input-${++counter}`,
    args: [{ ...spec, s3: { ...spec.s3, endpoint } }],
  });
  const failure = await handle.result().then(
    () => {
      throw new Error('provisioning succeeded without its configs');
    },
    (err: unknown) => rootApplicationFailure(err),
  );
  const seconds = (Date.now() - started) / 1000;
  expect(failure.message).toMatch(
    new RegExp(
      `^reading s3://quotemedia-backups/my-redis/redis-(master|replica)-0\\d\\.conf \\(config of [mr]\\d \\(127\\.0\\.0\\.1:\\d+\\)\\) from ${endpoint}: `,
    ),
  );
  expect(failure.message).toContain('ECONNREFUSED');
  const attempts = (await handle.fetchHistory()).events!.map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
  expect(Math.max(...attempts)).toBe(5);
  expect(seconds).toBeLessThan(60);
  expect(configFilesWritten(spec)).toEqual([]);
  expect(await noNodeRunning(spec)).toBe(true);
});

describe('nodes we must not touch are refused, and left exactly as they were', () => {
  test('a node that already holds keys', async () => {
    const spec = await freshSpec();
    const m2 = spec.nodes[1]!;
    // The usual story: a standalone Redis with data, restarted in cluster mode on a port the spec names.
    const dir = path.join(stack.stateDir, `own-${m2.port}`);
    const standalone = await startTestRedis(m2.port, dir, ['--cluster-enabled', 'no']);
    await withNode(m2, async (c) => {
      await c.set('precious', 'data');
      await c.save();
    });
    await stopPid(standalone.pid!);
    await startTestRedis(m2.port, dir, ['--dbfilename', 'dump.rdb']);
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.NodeNotEmpty);
    expect(failure.message).toContain(`m2 (127.0.0.1:${m2.port}) holds 1 key(s) and is not part of cluster`);
    await withNode(m2, async (c) => {
      // Key commands answer CLUSTERDOWN on a lone node, so look the key up by its slot.
      const slot = (await c.call('CLUSTER', 'KEYSLOT', 'precious')) as number;
      expect(await c.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '10')).toEqual(['precious']);
      expect(await c.dbsize()).toBe(1);
      expect(parseInfo((await c.call('CLUSTER', 'INFO')) as string).cluster_known_nodes).toBe('1');
    });
    expect(await noNodeRunning(withNodes(spec, (nodes) => nodes.splice(1, 1)))).toBe(true);
    expect(configFilesWritten(spec)).toEqual([]);
  });

  test('a node that already belongs to another cluster', async () => {
    const spec = await freshSpec();
    const r3 = spec.nodes[6]!;
    const stranger = await freePortBlock(1);
    await startTestRedis(r3.port, path.join(stack.stateDir, `own-${r3.port}`));
    await startTestRedis(stranger, path.join(stack.stateDir, `own-${stranger}`));
    await withNode(r3, (c) => c.call('CLUSTER', 'MEET', '127.0.0.1', String(stranger)));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const known = await withNode(
        r3,
        async (c) => parseInfo((await c.call('CLUSTER', 'INFO')) as string).cluster_known_nodes,
      );
      if (known === '2') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.NodeInOtherCluster);
    expect(failure.message).toContain(
      `r3 (127.0.0.1:${r3.port}) already belongs to another cluster: it knows 127.0.0.1:${stranger}`,
    );
    await withNode(r3, async (c) => {
      expect(parseInfo((await c.call('CLUSTER', 'INFO')) as string).cluster_known_nodes).toBe('2');
    });
    expect(await noNodeRunning(withNodes(spec, (nodes) => nodes.splice(6, 1)))).toBe(true);
  });

  test('a port held by something that is not Redis', async () => {
    const spec = await freshSpec();
    const m3 = spec.nodes[2]!;
    await startNonRedis(m3.port);
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.PortNotRedis);
    expect(failure.message).toContain(
      `m3 (127.0.0.1:${m3.port}): port ${m3.port} is held by something that is not Redis`,
    );
    expect(await noNodeRunning(withNodes(spec, (nodes) => nodes.splice(2, 1)))).toBe(true);
    expect(configFilesWritten(spec)).toEqual([]);
  });

  test("a node's cluster bus port (port + 10000) held by another process", async () => {
    const spec = await freshSpec();
    const r2 = spec.nodes[5]!;
    await startNonRedis(r2.port + 10000);
    const failure = await refusal(spec);
    expect(failure.type).toBe(ErrorType.BusPortInUse);
    expect(failure.message).toContain(
      `r2 (127.0.0.1:${r2.port}): its cluster bus port ${r2.port + 10000} is held by another process`,
    );
    expect(await noNodeRunning(spec)).toBe(true);
    expect(configFilesWritten(spec)).toEqual([]);
  });
});

/**
 * A port taken by an outgoing connection (the kernel hands those out from the ephemeral range): held by a process
 * of the test, as a client socket without SO_REUSEADDR, as a program's outgoing connection is.
 */
function holdPort(port: number, seconds: number): { pid: number; released: Promise<void> } {
  const code = `
import socket, sys, time
target = socket.socket(); target.bind(("127.0.0.1", 0)); target.listen(1)
held = socket.socket(); held.bind(("127.0.0.1", ${port})); held.connect(target.getsockname())
print("held", flush=True); time.sleep(${seconds})`;
  const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const released = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { pid: child.pid!, released };
}

async function untilHeld(port: number): Promise<void> {
  await waitFor('the port held', async () => ((await portHolders(port)).length > 0 ? true : undefined), 10_000);
}

describe('a node port taken by an outgoing connection', () => {
  test('held a few seconds: the start is retried and the run completes', async () => {
    const spec = await freshSpec();
    const r2 = spec.nodes[5]!;
    const hold = holdPort(r2.port + 10000, 4);
    await untilHeld(r2.port + 10000);
    const handle = await client.provision(spec);
    await client.result(spec.name);
    await hold.released;
    const started = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
      e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 0] : [],
    );
    // startNodes ran more than once: its first attempt met the port taken.
    expect(Math.max(...started)).toBeGreaterThan(1);
  });

  test('held for good: the start fails naming the port, the socket and the pid that holds it', async () => {
    // One start, as each attempt of startNodes makes it; the run retries it about 90 s before it fails with this.
    const spec = await freshSpec();
    const r2 = spec.nodes[5]!;
    const file = path.join(stack.stateDir, `held-${r2.port}.conf`);
    const dataDir = path.join(stack.stateDir, `held-${r2.port}`);
    writeFileSync(
      file,
      renderNodeConf({ port: r2.port, bind: '127.0.0.1', dataDir, replica: false, nofailover: false }),
    );
    const hold = holdPort(r2.port + 10000, 60);
    try {
      await untilHeld(r2.port + 10000);
      const failure = await startRedisServer(file, r2).then(
        () => undefined,
        (err: Error) => err,
      );
      console.log(`port held for good: ${failure?.message}`);
      expect(failure?.message).toContain(`Failed listening on port ${r2.port + 10000}`);
      expect(failure?.message).toContain(`held by pid ${hold.pid} (python3)`);
    } finally {
      process.kill(hold.pid);
      await hold.released;
    }
  });
});
