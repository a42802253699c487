/**
 * The docker-compose shape without Docker (`npm run test:deploy` alone; part of `npm test`), with mutual TLS:
 * the Temporal server built from its Go module on Debian's PostgreSQL (schema set up by temporal-sql-tool, as
 * Temporal documents for deployments), the S3 store, a cluster-only worker (RCO_CLUSTER_ONLY, as in the compose
 * file) and a host worker for the node-local steps. The seed cluster is provisioned with a migration from a
 * standalone Redis, through the real server.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { RedisClusterClient } from '../../src/client';
import { freePort, portOpen, stopPid } from '../../src/host/processes';
import { PROJECT_ROOT } from '../../src/host/tools';
import { type LocalServer, startS3Server } from '../../src/local/dev-servers';
import { LOCAL_S3_ENV } from '../../src/local/seed';
import { SEARCH_ATTRIBUTES } from '../../src/model';
import { stopTestServers } from '../helpers/servers';
import { type Stack, freePortBlock, seedTopology, startPlainSource, stopRedisNodes } from '../helpers/stack';
import { makeCertificates } from '../helpers/certs';
import { waitFor } from '../helpers/wait';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

const run = promisify(execFile);
const BIN = path.join(PROJECT_ROOT, '.local', 'bin');
const PG = path.join(BIN, 'postgresql');
const SCHEMA = path.join(PROJECT_ROOT, '.local', 'temporal-schema', 'postgresql', 'v12');

let dir: string;
let pgPort: number;
let server: ChildProcess | undefined;
let s3: LocalServer | undefined;
let client: RedisClusterClient | undefined;
const workers: WorkerProcess[] = [];

/** PostgreSQL refuses to run as root: its files belong to the postgres user, and so does the process. */
const asPostgres = (command: string, args: string[]) =>
  run('runuser', ['-u', 'postgres', '--', path.join(PG, command), ...args], { timeout: 60_000 });

async function startPostgres(): Promise<void> {
  const data = path.join(dir, 'pg');
  mkdirSync(data);
  const { uid, gid } = await run('id', ['-u', 'postgres']).then(async ({ stdout }) => ({
    uid: Number(stdout),
    gid: Number((await run('id', ['-g', 'postgres'])).stdout),
  }));
  chownSync(dir, uid, gid);
  chownSync(data, uid, gid);
  await asPostgres('initdb', ['-D', data, '-U', 'temporal', '--auth=trust']);
  pgPort = await freePort();
  await asPostgres('pg_ctl', [
    '-D',
    data,
    '-l',
    path.join(dir, 'pg.log'),
    '-w',
    'start',
    '-o',
    `-p ${pgPort} -k ${dir} -h 127.0.0.1`,
  ]);
}

async function setupSchema(): Promise<void> {
  const tool = (db: string, ...args: string[]) =>
    run(
      path.join(BIN, 'temporal-sql-tool'),
      [
        '--plugin',
        'postgres12',
        '--ep',
        '127.0.0.1',
        '-p',
        String(pgPort),
        '-u',
        'temporal',
        '--pw',
        'temporal',
        '--db',
        db,
        ...args,
      ],
      { timeout: 120_000 },
    );
  for (const [db, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    await tool(db, 'create-database');
    await tool(db, 'setup-schema', '-v', '0.0');
    await tool(db, 'update-schema', '-d', path.join(SCHEMA, schema, 'versioned'));
  }
}

/** The server's config: the module's development-postgres12.yaml, on free loopback ports, with mTLS. */
async function writeServerConfig(certs: ReturnType<typeof makeCertificates>): Promise<string> {
  // Below 32768: the server stores membership ports as a PostgreSQL smallint (a port from the ephemeral range made
  // it exit with "value 40913 is out of range for type smallint").
  const base = await freePortBlock(9);
  const ports = Array.from({ length: 9 }, (_, i) => base + i);
  const [frontend, frontendHttp, frontendM, history, historyM, matching, matchingM, worker, workerM] = ports;
  const datastore = (name: string, conns: number) => `
    ${name === 'temporal' ? 'postgres-default' : 'postgres-visibility'}:
      sql:
        pluginName: postgres12
        databaseName: ${name}
        connectAddr: 127.0.0.1:${pgPort}
        connectProtocol: tcp
        user: temporal
        password: temporal
        maxConns: ${conns}
        maxIdleConns: ${conns}
        maxConnLifetime: 1h`;
  const config = `
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:${datastore('temporal', 20)}${datastore('temporal_visibility', 4)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  # Mutual TLS on the frontend: every client (ours, the temporal CLI, the server's own system worker) shows a
  # certificate the CA signed.
  tls:
    frontend:
      server:
        certFile: ${certs.certFile}
        keyFile: ${certs.keyFile}
        clientCaFiles: [${certs.caFile}]
        requireClientAuth: true
      client:
        serverName: 127.0.0.1
        rootCaFiles: [${certs.caFile}]
    systemWorker:
      certFile: ${certs.certFile}
      keyFile: ${certs.keyFile}
      client:
        serverName: 127.0.0.1
        rootCaFiles: [${certs.caFile}]
services:
  frontend:
    rpc: { grpcPort: ${frontend}, membershipPort: ${frontendM}, bindOnLocalHost: true, httpPort: ${frontendHttp} }
  history:
    rpc: { grpcPort: ${history}, membershipPort: ${historyM}, bindOnLocalHost: true }
  matching:
    rpc: { grpcPort: ${matching}, membershipPort: ${matchingM}, bindOnLocalHost: true }
  worker:
    rpc: { grpcPort: ${worker}, membershipPort: ${workerM}, bindOnLocalHost: true }
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: 127.0.0.1:${frontend}
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: ${path.join(dir, 'config', 'dynamicconfig.yaml')}
  pollInterval: 10s
`;
  mkdirSync(path.join(dir, 'config'), { recursive: true });
  writeFileSync(path.join(dir, 'config', 'deploy.yaml'), config);
  writeFileSync(
    path.join(dir, 'config', 'dynamicconfig.yaml'),
    'system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n',
  );
  return `127.0.0.1:${frontend}`;
}

/** The temporal CLI, with this test's TEMPORAL_TLS_* (Jest's process.env is its own copy: a child gets it only when passed). */
const temporalCli = (address: string, ...args: string[]) =>
  run(path.join(BIN, 'temporal'), [...args, '--address', address], { timeout: 60_000, env: process.env });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rco-deploy-'));
  Object.assign(process.env, {
    TEMPORAL_TLS: 'true',
    TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'certs', 'node.crt'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'certs', 'node.key'),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'certs', 'ca.crt'),
  });
  await startPostgres();
  await setupSchema();
}, 300_000);

afterAll(async () => {
  for (const name of [
    'TEMPORAL_TLS',
    'TEMPORAL_TLS_CLIENT_CERT_PATH',
    'TEMPORAL_TLS_CLIENT_KEY_PATH',
    'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  ])
    delete process.env[name];
  await Promise.all(workers.map(killWorker));
  await client?.close();
  if (server?.pid) await stopPid(server.pid);
  await stopTestServers();
  await stopRedisNodes(dir);
  await s3?.stop();
  await asPostgres('pg_ctl', ['-D', path.join(dir, 'pg'), '-m', 'fast', 'stop']).catch(() => undefined);
});

test('provisioning with a migration on a real Temporal server on PostgreSQL, with a cluster-only and a host worker', async () => {
  // Every Temporal client here takes the client certificate the way every Temporal tool does: TEMPORAL_TLS_* (the
  // temporal CLI, our workers and our client through @temporalio/envconfig).
  const certs = makeCertificates(path.join(dir, 'certs'));
  const address = await writeServerConfig(certs);
  const log = openSync(path.join(dir, 'temporal-server.log'), 'a');
  server = spawn(
    path.join(BIN, 'temporal-server'),
    ['--root', dir, '--config', 'config', '--env', 'deploy', '--allow-no-auth', 'start'],
    {
      stdio: ['ignore', log, log],
    },
  );
  const [host, port] = address.split(':');
  await waitFor(
    'the Temporal frontend',
    async () => ((await portOpen(Number(port), host)) ? true : undefined),
    120_000,
  ).catch((err) => {
    throw new Error(
      `${(err as Error).message}\n${readFileSync(path.join(dir, 'temporal-server.log'), 'utf8').slice(-3000)}`,
    );
  });
  let lastError = '';
  await waitFor(
    'the default namespace',
    async () =>
      temporalCli(address, 'operator', 'namespace', 'create', '--namespace', 'default', '--retention', '24h').then(
        () => true,
        (err: Error & { stderr?: string }) => {
          lastError = `${err.message} ${err.stderr ?? ''}`;
          return /already/i.test(lastError) ? true : undefined;
        },
      ),
    120_000,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}: ${lastError}\n${readFileSync(path.join(dir, 'temporal-server.log'), 'utf8').slice(-3000)}`,
    );
  });
  // Without a client certificate the server refuses: mTLS is on.
  const { TEMPORAL_TLS_CLIENT_CERT_PATH: _c, TEMPORAL_TLS_CLIENT_KEY_PATH: _k, ...withoutCert } = process.env;
  await expect(
    run(path.join(BIN, 'temporal'), ['operator', 'namespace', 'list', '--address', address], { env: withoutCert }),
  ).rejects.toThrow();
  const attributes = Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--name', name, '--type', type]);
  await temporalCli(address, 'operator', 'search-attribute', 'create', '--namespace', 'default', ...attributes);

  Object.assign(process.env, LOCAL_S3_ENV);
  s3 = await startS3Server({ port: await freePort(), stateDir: dir });
  const stack = { stateDir: dir, s3 } as Stack;
  const seed = await seedTopology(stack, 'deploy');
  const source = await startPlainSource(stack, 'deploy-source');
  for (let i = 0; i < 5000; i += 1000)
    await source.mset(Object.fromEntries(Array.from({ length: 1000 }, (_, j) => [`k:${i + j}`, `v${i + j}`])));
  const sourcePort = source.options.port!;
  source.disconnect();

  // As in docker-compose: the cluster-wide worker runs no node-local step; the host worker starts the nodes.
  const clusterWorker = startWorkerProcess(address, { RCO_CLUSTER_ONLY: '1' });
  const hostWorker = startWorkerProcess(address, {}, { args: ['--host', '127.0.0.1'] });
  workers.push(clusterWorker, hostWorker);
  await Promise.all([clusterWorker.ready, hostWorker.ready]);

  client = await RedisClusterClient.connect({ address });
  const spec = {
    ...seed,
    hostWorkers: true,
    migration: { source: { type: 'standalone' as const, host: '127.0.0.1', port: sourcePort } },
  };
  await client.provision(spec);
  const result = await client.result(spec.name);
  expect(result.report.clusterState).toBe('ok');
  expect(result.report.currentEpoch).toBe(4);
  expect(result.report.problems).toEqual([]);
  expect(result.migration?.shards.reduce((n, s) => n + s.copied, 0)).toBe(5000);
  expect(result.migration?.targetKeys.reduce((n, t) => n + t.keys, 0)).toBe(5000); // on the masters
  // The run is in PostgreSQL's visibility store, with our search attributes.
  const runs = await client.list(`RedisCluster="${spec.name}"`);
  expect(runs).toEqual([
    expect.objectContaining({ workflowId: `redis-cluster-${spec.name}`, status: 'COMPLETED', step: 'done' }),
  ]);
}, 600_000);
