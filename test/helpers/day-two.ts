/**
 * Day-two helpers on a provisioned cluster: read each node directly, write keys acknowledged by a replica (WAIT),
 * check them and the spec's roles afterwards, SIGKILL a node (with or without its data).
 */
import { Cluster, Redis } from 'ioredis';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import calculateSlot from 'cluster-key-slot';
import { pidAlive } from '../../src/host/processes';
import { type ClusterSpec, nodeSlots } from '../../src/model';
import { parseClusterNodes, parseInfo } from '../../src/redis/cluster-nodes';
import { waitFor } from './wait';

/** `stateDir`: the stack's folder (the nodes' data is under <stateDir>/<spec name>/data/<port>). */
export function dayTwo(spec: ClusterSpec, stateDir: string) {
  const acknowledged = new Map<string, string>();
  const node = (id: string) => spec.nodes.find((n) => n.id === id)!;
  const direct = (id: string) => new Redis({ host: '127.0.0.1', port: node(id).port, lazyConnect: true });

  async function onNode<T>(id: string, fn: (c: Redis) => Promise<T>): Promise<T> {
    const c = direct(id);
    try {
      await c.connect();
      return await fn(c);
    } finally {
      c.disconnect();
    }
  }

  const clusterNodes = (id: string) =>
    onNode(id, async (c) => parseClusterNodes((await c.call('CLUSTER', 'NODES')) as string));
  const myId = async (id: string) => (await clusterNodes(id)).find((n) => n.myself)!.id;
  const clusterState = (id: string) =>
    onNode(id, async (c) => parseInfo((await c.call('CLUSTER', 'INFO')) as string).cluster_state);

  /** Writes `count` keys to each master, each batch acknowledged by its replica (WAIT 1). */
  async function writeAcknowledged(prefix: string, count: number): Promise<void> {
    for (const master of spec.nodes.filter((n) => n.role === 'master')) {
      const [[from, to]] = nodeSlots(master) as [[number, number]];
      await onNode(master.id, async (c) => {
        let written = 0;
        for (let i = 0; written < count; i++) {
          const key = `${prefix}:${master.id}:${i}`;
          const slot = calculateSlot(key);
          if (slot < from || slot > to) continue;
          await c.set(key, `v${i}`);
          acknowledged.set(key, `v${i}`);
          written++;
        }
        expect(Number(await c.call('WAIT', '1', '5000'))).toBe(1);
      });
    }
  }

  async function expectAcknowledgedKeys(): Promise<void> {
    const cluster = new Cluster([{ host: '127.0.0.1', port: node('m1').port }]);
    try {
      const keys = [...acknowledged.keys()];
      const values = await Promise.all(keys.map((k) => cluster.get(k)));
      const missing = keys.filter((k, i) => values[i] !== acknowledged.get(k));
      expect(missing).toEqual([]);
    } finally {
      cluster.disconnect();
    }
  }

  /** The spec's roles and slots, read from every node. */
  async function expectSpecRoles(): Promise<void> {
    const ids = new Map(await Promise.all(spec.nodes.map(async (n) => [n.id, await myId(n.id)] as const)));
    for (const viewer of spec.nodes) {
      const lines = await clusterNodes(viewer.id);
      expect(lines).toHaveLength(spec.nodes.length);
      expect(await clusterState(viewer.id)).toBe('ok');
      for (const n of spec.nodes) {
        const line = lines.find((l) => l.id === ids.get(n.id))!;
        expect(line).toBeDefined();
        expect(line.role).toBe(n.role);
        if (n.role === 'replica') {
          expect(line.masterId).toBe(ids.get(n.replicaOf!));
          expect(line.noFailover).toBe(true);
        } else expect(line.slots).toEqual(nodeSlots(n));
      }
    }
  }

  /** SIGKILLs a node started by the workflow (by the pid in its data dir); with `wipe`, its data goes too. */
  async function killNode(id: string, wipe: boolean): Promise<void> {
    const dataDir = path.join(stateDir, spec.name, 'data', String(node(id).port));
    const pid = Number(readFileSync(path.join(dataDir, `redis-${node(id).port}.pid`), 'utf8').trim());
    process.kill(pid, 'SIGKILL');
    await waitFor(`${id} to die`, async () => (pidAlive(pid) ? undefined : true));
    if (wipe)
      for (const entry of readdirSync(dataDir)) rmSync(path.join(dataDir, entry), { recursive: true, force: true });
  }

  /** Nodes report cluster_state:fail once they flag a lost master (nofailover: nothing takes its place). */
  const waitForClusterFail = (viewer = 'm1') =>
    waitFor('the cluster to fail', async () => ((await clusterState(viewer)) === 'fail' ? true : undefined), 30_000);

  /**
   * The day-two failure the repair tests start from: acknowledged keys written (under `prefix`), then nodes killed
   * (`lost`: their data wiped too; `down`: killed with it), then the cluster failed. Resolves to the killed nodes' ids.
   */
  async function breakNodes<L extends string = never, D extends string = never>(
    prefix: string,
    nodes: { lost?: L[]; down?: D[] },
    keys = 100,
  ): Promise<Record<L | D, string>> {
    await writeAcknowledged(prefix, keys);
    const killed = [...(nodes.lost ?? []), ...(nodes.down ?? [])];
    const ids = Object.fromEntries(await Promise.all(killed.map(async (id) => [id, await myId(id)] as const)));
    for (const id of nodes.lost ?? []) await killNode(id, true);
    for (const id of nodes.down ?? []) await killNode(id, false);
    await waitForClusterFail();
    return ids as Record<L | D, string>;
  }

  return {
    acknowledged,
    breakNodes,
    waitForClusterFail,
    onNode,
    node,
    clusterNodes,
    myId,
    clusterState,
    writeAcknowledged,
    expectAcknowledgedKeys,
    expectSpecRoles,
    killNode,
  };
}
