/**
 * Nodes on several hosts. Four network namespaces joined by a bridge are four "hosts", each with its own address
 * (10.213.<n>.11-14), its own host worker (`worker --host <address>`, polling redis-host-<address>) and two
 * Redis nodes, which that worker starts inside the namespace. The host workers reach the Temporal dev server
 * (on loopback) through a forwarder on the root namespace's bridge address; the control worker runs in this
 * process. The spec is the runbook's shape: each
 * replica sits on another host than its master.
 *
 * Host h4's worker is down when the run starts: the run waits, and progress shows it waiting for h4. Host h2's
 * worker is then SIGKILLed, h4's started, and the run waits for h2 until its worker is started again. The run
 * completes and the cluster is asserted from the live nodes. The namespaces and the bridge are removed afterwards,
 * also when the test fails. Where namespaces cannot be made (not root), the test is skipped and says why.
 */
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { RedisClusterClient } from '../../src/client';
import { type LocalServer, startTemporalDevServer } from '../../src/local/dev-servers';
import { freePort } from '../../src/host/processes';
import type { ClusterSpec, NodeSpec } from '../../src/model';
import { runWorkerHere } from '../helpers/running-stack';
import { expectRunbookCluster } from '../helpers/cluster-assert';
import { type TestNetwork, createTestNetwork, forwardToLoopback, namespacesUnavailable } from '../helpers/netns';
import { stopRedisNodes } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { type WorkerProcess, killWorker, startWorkerProcess } from '../helpers/worker-process';

const unavailable = namespacesUnavailable();
if (unavailable) console.warn(`SKIPPED test/hosts: network namespaces cannot be created here (${unavailable})`);

(unavailable ? describe.skip : describe)('nodes on four hosts (network namespaces), one host worker each', () => {
  let network: TestNetwork;
  let stateDir: string;
  let temporal: LocalServer;
  /** Where the host workers reach Temporal: the bridge address, forwarded to the dev server on loopback. */
  let temporalForHosts: string;
  let stopForwarding: (() => Promise<void>) | undefined;
  let client: RedisClusterClient;
  let stopControlWorker: (() => Promise<void>) | undefined;
  const hostWorkers = new Map<string, WorkerProcess>();

  beforeAll(async () => {
    network = createTestNetwork(4);
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'rco-hosts-'));
    temporal = await startTemporalDevServer({ port: await freePort(), stateDir });
    const forwardPort = await freePort();
    stopForwarding = await forwardToLoopback(network.bridgeIp, forwardPort, Number(temporal.address.split(':')[1]));
    temporalForHosts = `${network.bridgeIp}:${forwardPort}`;
    client = await RedisClusterClient.connect({ address: temporal.address });
    stopControlWorker = await runWorkerHere(temporal.address);
  });

  afterAll(async () => {
    await Promise.all([...hostWorkers.values()].map(killWorker));
    await stopControlWorker?.();
    await stopForwarding?.();
    await client?.close();
    if (stateDir) await stopRedisNodes(stateDir);
    await temporal?.stop();
    network?.remove();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  async function startHostWorker(index: number): Promise<void> {
    const host = network.hosts[index]!;
    const worker = startWorkerProcess(
      temporalForHosts,
      {},
      {
        prefix: ['ip', 'netns', 'exec', host.namespace],
        args: ['--host', host.ip],
      },
    );
    hostWorkers.set(host.name, worker);
    await worker.ready;
  }

  test('replicas on other hosts than their masters; a host worker down, then killed: the run waits and completes', async () => {
    const [h1, h2, h3, h4] = network.hosts.map((h) => h.ip) as [string, string, string, string];
    const node = (id: string, host: string, port: number, rest: Partial<NodeSpec>): NodeSpec =>
      ({ id, host, port, config: 'render:', ...rest }) as NodeSpec;
    // The runbook's mapping: r1 -> m3, r2 -> m1, r3 -> m4, r4 -> m2; host i holds m<i> and r<i>.
    const spec: ClusterSpec = {
      name: 'hosts',
      configDir: path.join(stateDir, 'etc'),
      dataDir: path.join(stateDir, 'data'),
      nofailover: true,
      hostWorkers: true,
      remove: [],
      nodes: [
        node('m1', h1, 7001, { role: 'master', slots: ['0-4095'] }),
        node('m2', h2, 7002, { role: 'master', slots: ['4096-8191'] }),
        node('m3', h3, 7003, { role: 'master', slots: ['8192-12287'] }),
        node('m4', h4, 7004, { role: 'master', slots: ['12288-16383'] }),
        node('r1', h1, 7005, { role: 'replica', replicaOf: 'm3' }),
        node('r2', h2, 7006, { role: 'replica', replicaOf: 'm1' }),
        node('r3', h3, 7007, { role: 'replica', replicaOf: 'm4' }),
        node('r4', h4, 7008, { role: 'replica', replicaOf: 'm2' }),
      ],
    };
    for (const replica of spec.nodes.filter((n) => n.role === 'replica'))
      expect(replica.host).not.toBe(spec.nodes.find((n) => n.id === replica.replicaOf)!.host);

    await Promise.all([0, 1, 2].map(startHostWorker)); // h4's worker is down
    await client.provision(spec);
    const waitingFor = (hosts: string[]) =>
      waitFor(
        `progress to show the run waiting for ${hosts.join(', ')}`,
        async () => {
          const waiting = (await client.progress(spec.name)).waitingForHosts ?? [];
          return JSON.stringify(waiting) === JSON.stringify(hosts) || undefined;
        },
        60_000,
      );
    await waitingFor([h4]);

    await killWorker(hostWorkers.get('h2')!); // SIGKILL, mid-run
    await startHostWorker(3); // h4 comes back: fetchConfigs goes on, startNodes now waits for h2
    await waitingFor([h2]);
    await startHostWorker(1);

    const result = await client.result(spec.name);
    expect(result.report.problems).toEqual([]);
    expect((await client.progress(spec.name)).waitingForHosts).toBeUndefined();
    // From the live nodes: slots, the replica mapping across hosts, epochs, links up, nofailover.
    await expectRunbookCluster(spec);
    // Each node was started inside its own host's namespace: it listens on that host's address only.
    for (const n of spec.nodes)
      expect(result.report.nodes.find((r) => r.id === n.id)?.address).toBe(`${n.host}:${n.port}`);
  });
});
