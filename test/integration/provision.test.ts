/**
 * The runbook's cluster, end to end: configs from a real S3-compatible server, 8 real redis-server processes,
 * the real worker on a real Temporal dev server. Everything is asserted from the live nodes.
 */
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RedisClusterClient } from '../../src/client';
import { parseClusterNodes, parseInfo, parseNodesConfVars } from '../../src/redis/cluster-nodes';
import { withNode } from '../../src/redis/connection';
import { type ClusterSpec, confFacts, describeRanges } from '../../src/spec';
import { createWorker } from '../../src/worker';
import { type Stack, seedTopology, startStack, workflowBundle } from '../helpers/stack';

Runtime.install({ logger: new DefaultLogger('WARN') });

let stack: Stack;
let spec: ClusterSpec;
let client: RedisClusterClient;

beforeAll(async () => {
  stack = await startStack('provision');
  spec = await seedTopology(stack);
  client = await RedisClusterClient.connect({ address: stack.temporal.address });
});

afterAll(async () => {
  await client?.close();
  await stack?.stop();
});

async function runWithWorker<T>(fn: () => Promise<T>): Promise<T> {
  const { worker, connection } = await createWorker({
    address: stack.temporal.address,
    workflowBundle: await workflowBundle(),
  });
  try {
    return await worker.runUntil(fn());
  } finally {
    await connection.close();
  }
}

const portOf = (id: string) => spec.nodes.find((n) => n.id === id)!.port;

async function liveState() {
  return Promise.all(
    spec.nodes.map((node) =>
      withNode({ host: node.host, port: node.port }, async (c) => {
        const nodes = parseClusterNodes((await c.call('CLUSTER', 'NODES')) as string);
        const info = parseInfo((await c.call('CLUSTER', 'INFO')) as string);
        const replication = parseInfo((await c.info('replication')) as string);
        const [, dir] = (await c.call('CONFIG', 'GET', 'dir')) as string[];
        const [, nodesFile] = (await c.call('CONFIG', 'GET', 'cluster-config-file')) as string[];
        const configFile = parseInfo((await c.info('server')) as string).config_file!;
        return {
          node,
          nodes,
          info,
          replication,
          nodesConf: readFileSync(path.join(dir!, nodesFile!), 'utf8'),
          configText: readFileSync(configFile, 'utf8'),
        };
      }),
    ),
  );
}

test('provisions the runbook cluster exactly, and a second run changes nothing', async () => {
  const result = await runWithWorker(async () => {
    const handle = await client.provision(spec);
    return client.result(spec.name).then((r) => ({ r, handle }));
  });
  expect(result.r.report.problems).toEqual([]);

  const live = await liveState();
  const byPort = (state: (typeof live)[number], port: number) => state.nodes.find((n) => n.port === port)!;
  for (const state of live) {
    expect(state.info.cluster_state).toBe('ok');
    expect(state.info.cluster_current_epoch).toBe('4');
    expect(parseNodesConfVars(state.nodesConf).lastVoteEpoch).toBe(0);
    expect(state.nodes).toHaveLength(8);
    // Masters and their slots, as every node sees them.
    const expectedSlots: Record<string, string> = {
      m1: '0-4095',
      m2: '4096-8191',
      m3: '8192-12287',
      m4: '12288-16383',
    };
    for (const [id, slots] of Object.entries(expectedSlots)) {
      const line = byPort(state, portOf(id));
      expect(line.role).toBe('master');
      expect(describeRanges(line.slots)).toBe(slots);
    }
    // The runbook's mapping: 50005->50003, 50006->50001, 50007->50004, 50008->50002.
    const mapping: [string, string][] = [
      ['r1', 'm3'],
      ['r2', 'm1'],
      ['r3', 'm4'],
      ['r4', 'm2'],
    ];
    for (const [replica, master] of mapping) {
      const line = byPort(state, portOf(replica));
      expect(line.role).toBe('replica');
      expect(line.masterId).toBe(byPort(state, portOf(master)).id);
      expect(line.noFailover).toBe(true);
      expect(line.slots).toEqual([]);
    }
    if (state.node.role === 'replica') {
      expect(state.replication.master_link_status).toBe('up');
      expect(confFacts(state.configText).replicaNoFailover).toBe(true);
    }
  }
  expect(result.r.report.currentEpoch).toBe(4);
  expect(result.r.steps.map((s) => s.status)).toEqual(Array(9).fill('done'));

  // Second run on the finished cluster: succeeds, same ids, same epochs, nothing changed.
  const idsBefore = live.map((s) => s.nodes.find((n) => n.myself)!.id);
  const second = await runWithWorker(async () => {
    await client.provision(spec);
    return client.result(spec.name);
  });
  const after = await liveState();
  expect(after.map((s) => s.nodes.find((n) => n.myself)!.id)).toEqual(idsBefore);
  expect(after.map((s) => s.info.cluster_current_epoch)).toEqual(Array(8).fill('4'));
  const stepResult = (name: string) => second.steps.find((s) => s.name === name)!.result as Record<string, unknown[]>;
  expect(stepResult('formCluster')).toEqual({ epochsSet: [], met: [] });
  expect(stepResult('assignSlots')).toEqual({ added: [] });
  expect(stepResult('replicateNodes').attached).toEqual([]);
  expect(stepResult('setNoFailover')).toMatchObject({ set: [], persisted: [] });
  expect(
    (second.steps.find((s) => s.name === 'startNodes')!.result as { action: string }[]).map((r) => r.action),
  ).toEqual(Array(8).fill('already-running'));
});
