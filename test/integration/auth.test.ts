/**
 * A cluster with passwords: every node requires a password and has an ACL user; the spec names the environment
 * variable that holds the password, never the password. Provisioning (configs rendered with requirepass, the ACL
 * user, masterauth and masteruser), a migration into it by MIGRATE ... AUTH2, and then the whole history read
 * through the client: the password appears nowhere. A wrong password is a non-retryable NodeAuthFailed that
 * changes nothing, and a spec that carries a password itself is refused before anything starts.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type Redis from 'ioredis';
import { withClusterAccess, withNode } from '../../src/redis/connection';
import { type ClusterSpec, ErrorType, adminAddress } from '../../src/model';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { compareAllKeys, fillEveryType } from '../helpers/dataset';
import { rootApplicationFailure } from '../helpers/failures';
import { historyText } from '../helpers/history';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { renderedTopology, startPlainSource } from '../helpers/stack';
import { writesAndKeys } from '../helpers/target-stats';

const PASSWORD = `pw "${randomBytes(9).toString('hex')}" never-in-history`; // a space and quotes, on purpose
const access = { auth: { username: 'rco', password: PASSWORD } };

let running: RunningStack;
let spec: ClusterSpec;
let source: Redis;

beforeAll(async () => {
  running = await startRunningStack('auth');
  process.env.RCO_TEST_CLUSTER_PASSWORD = PASSWORD; // the in-process worker's environment
  spec = {
    ...(await renderedTopology(running.stack, 'auth')),
    auth: { username: 'rco', passwordEnv: 'RCO_TEST_CLUSTER_PASSWORD' },
  };
  source = await startPlainSource(running.stack, 'auth-source');
  await fillEveryType(source, 'auth:');
});

afterAll(async () => {
  source?.disconnect();
  await running?.stop();
});

test('provision and migrate with AUTH and an ACL user; the password appears nowhere in the history', async () => {
  const { client } = running;
  await client.provision({
    ...spec,
    migration: { source: { type: 'standalone', host: '127.0.0.1', port: source.options.port! } },
  });
  const result = await client.result(spec.name);
  expect(result.report.problems).toEqual([]);
  // MIGRATE ... AUTH2 worked: the fast path stayed on, it did not fall back to copying through the worker.
  expect(result.migration!.shards[0]!.mode).toBe('migrate');
  expect(result.migration!.unequal).toEqual([]);

  // Every node refuses a client without the password, and takes the ACL user's.
  for (const node of spec.nodes) {
    await expect(withNode(adminAddress(node), (c) => c.ping())).rejects.toThrow(/NOAUTH/);
    await expect(withNode(adminAddress(node), (c) => c.ping(), { access })).resolves.toBe('PONG');
  }
  // The runbook's topology, replication links up through masteruser/masterauth.
  await withClusterAccess(access, () => expectRunbookCluster(spec));
  const { differences } = await withClusterAccess(access, () =>
    compareAllKeys([source], spec.nodes.filter((n) => n.role === 'master').map(adminAddress)),
  );
  expect(differences).toEqual([]);

  const history = await historyText(client.handle(spec.name));
  expect(history).toContain('RCO_TEST_CLUSTER_PASSWORD');
  expect(history).not.toContain(PASSWORD);
  expect(history).not.toContain(PASSWORD.split('"')[1]); // not even its random part, escaped differently
});

test('a wrong password: NodeAuthFailed, not retried, nothing changed', async () => {
  const before = await withClusterAccess(access, () => writesAndKeys(spec));
  process.env.RCO_TEST_CLUSTER_PASSWORD = 'not-the-password';
  try {
    const handle = await running.client.provision(spec);
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => rootApplicationFailure(err),
    );
    expect(failure?.type).toBe(ErrorType.NodeAuthFailed);
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toMatch(/refused the credentials given for it \(user rco\): WRONGPASS/);
    expect(await withClusterAccess(access, () => writesAndKeys(spec))).toEqual(before);
  } finally {
    process.env.RCO_TEST_CLUSTER_PASSWORD = PASSWORD;
  }
});

test('the password from a file (auth.passwordFile): the run logs in, finds everything in place, writes nothing', async () => {
  const before = await withClusterAccess(access, () => writesAndKeys(spec));
  const file = path.join(running.stack.stateDir, 'redis-password');
  writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 }); // a trailing newline, as editors leave it
  const fromFile = { ...spec, auth: { username: 'rco', passwordFile: file } };
  await running.client.provision(fromFile);
  const result = await running.client.result(spec.name);
  expect(result.report.problems).toEqual([]);
  expect(await withClusterAccess(access, () => writesAndKeys(spec))).toEqual(before);
  expect(await historyText(running.client.handle(spec.name))).not.toContain(PASSWORD);
});

test('a spec that carries the password itself is refused before anything starts', async () => {
  const withSecret = { ...spec, name: 'auth-inline', auth: { username: 'rco', password: 'inline' } };
  await expect(running.client.provision(withSecret as never)).rejects.toThrow(/auth.*password/i);
  expect(await running.client.list(`WorkflowId = "redis-cluster-auth-inline"`)).toEqual([]);
});
