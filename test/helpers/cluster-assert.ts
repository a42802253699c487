/** Reads the cluster from the live nodes (never from a report) and asserts the runbook's topology. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseClusterNodes, parseInfo, parseNodesConfVars } from '../../src/redis/cluster-nodes';
import { probePort, withNode } from '../../src/redis/connection';
import { type ClusterSpec, confFacts, describeRanges } from '../../src/model';

export async function liveState(spec: ClusterSpec) {
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
          myId: nodes.find((n) => n.myself)!.id,
          info,
          replication,
          nodesConf: readFileSync(path.join(dir!, nodesFile!), 'utf8'),
          configText: readFileSync(configFile, 'utf8'),
        };
      }),
    ),
  );
}

export type LiveState = Awaited<ReturnType<typeof liveState>>;

/** The runbook: m1..m4 own the four quarters; 50005->50003, 50006->50001, 50007->50004, 50008->50002. */
export async function expectRunbookCluster(spec: ClusterSpec): Promise<LiveState> {
  const live = await liveState(spec);
  const portOf = (id: string) => spec.nodes.find((n) => n.id === id)!.port;
  const expectedSlots: Record<string, string> = { m1: '0-4095', m2: '4096-8191', m3: '8192-12287', m4: '12288-16383' };
  const mapping: [string, string][] = [
    ['r1', 'm3'],
    ['r2', 'm1'],
    ['r3', 'm4'],
    ['r4', 'm2'],
  ];
  for (const state of live) {
    const at = (port: number) => state.nodes.find((n) => n.port === port)!;
    expect(state.info.cluster_state).toBe('ok');
    expect(state.info.cluster_current_epoch).toBe('4');
    expect(parseNodesConfVars(state.nodesConf).lastVoteEpoch).toBe(0);
    expect(state.nodes).toHaveLength(8);
    for (const [id, slots] of Object.entries(expectedSlots)) {
      expect(at(portOf(id)).role).toBe('master');
      expect(describeRanges(at(portOf(id)).slots)).toBe(slots);
    }
    for (const [replica, master] of mapping) {
      const line = at(portOf(replica));
      expect(line.role).toBe('replica');
      expect(line.masterId).toBe(at(portOf(master)).id);
      expect(line.noFailover).toBe(true);
      expect(line.slots).toEqual([]);
    }
    if (state.node.role === 'replica') {
      expect(state.replication.master_link_status).toBe('up');
      expect(confFacts(state.configText).replicaNoFailover).toBe(true);
    }
  }
  return live;
}

/** True when nothing answers on any of the spec's ports. */
export async function noNodeRunning(spec: ClusterSpec): Promise<boolean> {
  const probes = await Promise.all(spec.nodes.map((n) => probePort({ host: n.host, port: n.port }, 500)));
  return probes.every((p) => p.kind === 'free');
}
