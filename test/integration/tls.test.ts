/**
 * A cluster that speaks only TLS: a CA and a node certificate generated here with openssl, configs rendered with
 * `port 0` and `tls-port`, TLS on the cluster bus and for replication. The orchestrator's own connections use TLS
 * with the same certificate as a client. A plain source is then copied in: MIGRATE from a plain Redis cannot
 * speak TLS, so the copy falls back to DUMP/RESTORE through the worker by itself.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type Redis from 'ioredis';
import { type ClusterAccess, probePort, withClusterAccess, withNode } from '../../src/redis/connection';
import { type ClusterSpec, adminAddress, masters } from '../../src/model';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { compareAllKeys, fillEveryType } from '../helpers/dataset';
import { makeCertificates } from '../helpers/certs';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { renderedTopology, startPlainSource } from '../helpers/stack';

let running: RunningStack;
let spec: ClusterSpec;
let access: ClusterAccess;
let source: Redis;

beforeAll(async () => {
  running = await startRunningStack('tls');
  const files = makeCertificates(path.join(running.stack.stateDir, 'certs'));
  spec = { ...(await renderedTopology(running.stack, 'tls')), tls: { ...files, cluster: true, replication: true } };
  access = {
    auth: {},
    tls: { ca: readFileSync(files.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) },
  };
  source = await startPlainSource(running.stack, 'tls-source');
  await fillEveryType(source, 'tls:');
});

afterAll(async () => {
  source?.disconnect();
  await running?.stop();
});

test('provision a TLS-only cluster (bus and replication too) and copy a plain source into it', async () => {
  const { client } = running;
  await client.provision({
    ...spec,
    migration: { source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } },
  });
  const result = await client.result(spec.name);
  expect(result.report.problems).toEqual([]);
  expect(result.migration!.unequal).toEqual([]);
  // The plain source could not MIGRATE into TLS ports: the copy went through the worker instead.
  expect(result.migration!.shards[0]!.mode).toBe('dump-restore');

  for (const node of spec.nodes) {
    // Plain TCP gets no Redis answer: the port speaks only TLS.
    expect((await probePort(adminAddress(node), 1000, { auth: {} })).kind).toBe('other');
    const settings = await withNode(
      adminAddress(node),
      async (c) => [
        ...((await c.call('CONFIG', 'GET', 'tls-cluster')) as string[]),
        ...((await c.call('CONFIG', 'GET', 'tls-replication')) as string[]),
        ...((await c.call('CONFIG', 'GET', 'port')) as string[]),
      ],
      { access },
    );
    expect(settings).toEqual(['tls-cluster', 'yes', 'tls-replication', 'yes', 'port', '0']);
  }
  // The topology and the replication links, read over TLS.
  await withClusterAccess(access, () => expectRunbookCluster(spec));
  const { compared, differences } = await withClusterAccess(access, () =>
    compareAllKeys([source], masters(spec).map(adminAddress)),
  );
  expect(differences).toEqual([]);
  expect(compared).toBe(await source.dbsize());
});
