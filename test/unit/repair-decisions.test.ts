/** The repair's decisions from hand-made live states of the seed cluster: no server needed. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { LiveCluster, LiveNode } from '../../src/cluster/live';
import { decideRepair, repairChanges } from '../../src/cluster/repair-decisions';
import { type ClusterSpec, type NodeSpec, ErrorType, localizeSpec, nodeSlots } from '../../src/model';
import type { ClusterNodeLine } from '../../src/redis/cluster-nodes';

const spec: ClusterSpec = localizeSpec(
  JSON.parse(readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8')),
  { configDir: '/tmp/rco-unit/etc' },
);
const node = (id: string) => spec.nodes.find((n) => n.id === id)!;

/** Each node's line as the healthy cluster sees it (ids are "id-<spec id>"). */
function healthyLine(n: NodeSpec): ClusterNodeLine {
  const replica = n.role === 'replica';
  return {
    id: `id-${n.id}`,
    host: n.host,
    port: n.port,
    busPort: n.port + 10000,
    flags: [replica ? 'slave' : 'master', ...(replica ? ['nofailover'] : [])],
    role: replica ? 'replica' : 'master',
    myself: false,
    masterId: replica ? `id-${n.replicaOf}` : undefined,
    configEpoch: 0,
    linkState: 'connected',
    slots: replica ? [] : nodeSlots(n),
    handshake: false,
    noFailover: replica,
    failing: false,
    openSlots: [],
  };
}

type Lines = Map<string, ClusterNodeLine>;

/** Every node answering with the view `lines` (spec id -> line), each seeing itself as myself. */
function cluster(lines: Lines, change: (live: LiveCluster) => void = () => undefined): LiveCluster {
  const live: LiveCluster = new Map();
  for (const n of spec.nodes) {
    const nodes = [...lines.values()].map((l) => (l.id === lines.get(n.id)!.id ? { ...l, myself: true } : l));
    const myself = nodes.find((l) => l.myself)!;
    const state: LiveNode = {
      spec: n,
      port: { kind: 'redis' },
      clusterEnabled: true,
      keys: 0,
      view: { clusterInfo: {}, nodes, myself },
    };
    live.set(n.id, state);
  }
  change(live);
  return live;
}

const healthy = (): Lines => new Map(spec.nodes.map((n) => [n.id, healthyLine(n)]));

/** A node answering alone: it came back without its data (a new id). */
function lone(n: NodeSpec, keys = 0): LiveNode {
  const myself = {
    ...healthyLine(n),
    id: `new-${n.id}`,
    myself: true,
    role: 'master' as const,
    flags: ['myself', 'master'],
    masterId: undefined,
    slots: [],
  };
  return {
    spec: n,
    port: { kind: 'redis' },
    clusterEnabled: true,
    keys,
    view: { clusterInfo: {}, nodes: [myself], myself },
  };
}

/** m2 is gone: the others flag it fail; r4 (its spec replica) still replicates it. */
function m2Lost(): Lines {
  const lines = healthy();
  lines.set('m2', { ...lines.get('m2')!, flags: ['master', 'fail'], failing: true });
  return lines;
}

test('a healthy cluster needs nothing', () => {
  const decision = decideRepair(spec, cluster(healthy()));
  expect(repairChanges(decision)).toEqual([]);
  expect(decision.refusals).toEqual([]);
});

test('a master that came back without its data: takeover by its spec replica, then it rejoins and takes its slots back', () => {
  const decision = decideRepair(
    spec,
    cluster(m2Lost(), (live) => live.set('m2', lone(node('m2')))),
  );
  expect(decision.takeovers).toEqual([
    expect.objectContaining({
      replica: node('r4'),
      master: node('m2'),
      lostId: 'id-m2',
      flaggedBy: ['m1', 'm3', 'm4'],
      needed: 2,
    }),
  ]);
  expect(decision.forgets).toEqual([]); // not while it owns the slots
  expect(decision.rejoins).toEqual([{ node: node('m2'), replicate: node('r4'), meet: true }]);
  expect(decision.failbacks).toEqual([{ node: node('m2'), from: node('r4') }]);
  expect(repairChanges(decision).map((c) => c.step)).toEqual(['takeoverMasters', 'rejoinNodes', 'restoreRoles']);
});

test('after the takeover: the lost id is forgotten', () => {
  const lines = m2Lost();
  lines.set('m2', { ...lines.get('m2')!, slots: [], host: '', port: 0 });
  lines.set('r4', {
    ...lines.get('r4')!,
    role: 'master',
    flags: ['master'],
    masterId: undefined,
    slots: nodeSlots(node('m2')),
  });
  lines.set('lost', lines.get('m2')!);
  const live = cluster(lines, (l) => l.set('m2', lone(node('m2'))));
  const decision = decideRepair(spec, live);
  expect(decision.takeovers).toEqual([]);
  expect(decision.forgets).toEqual([{ lostId: 'id-m2', lastAddress: '' }]);
  expect(decision.rejoins).toEqual([{ node: node('m2'), replicate: node('r4'), meet: true }]);
});

test('a node that is down is started, and no id is forgotten while any node is down', () => {
  const lines = m2Lost();
  lines.set('r1', { ...lines.get('r1')!, flags: ['slave', 'fail'], failing: true });
  const live = cluster(lines, (l) => {
    l.set('m2', { spec: node('m2'), port: { kind: 'free' }, busFree: true });
    l.set('r1', lone(node('r1')));
  });
  const decision = decideRepair(spec, live);
  expect(decision.down).toEqual([node('m2')]);
  expect(decision.takeovers.map((t) => t.replica.id)).toEqual(['r4']);
  expect(decision.forgets).toEqual([]);
});

test('a master whose replica is gone too: its slots are lost, refused', () => {
  const lines = m2Lost();
  lines.set('r4', { ...lines.get('r4')!, flags: ['slave', 'fail'], failing: true });
  const live = cluster(lines, (l) => {
    l.set('m2', lone(node('m2')));
    l.set('r4', lone(node('r4')));
  });
  const decision = decideRepair(spec, live);
  expect(decision.refusals).toEqual([
    expect.objectContaining({ type: ErrorType.SlotsLost, message: expect.stringMatching(/m2 .*4096-8191/) }),
  ]);
});

test('a lone node holding keys is never made a replica', () => {
  const lines = healthy();
  lines.set('r1', { ...lines.get('r1')!, flags: ['slave', 'fail'], failing: true });
  const decision = decideRepair(
    spec,
    cluster(lines, (l) => l.set('r1', lone(node('r1'), 5))),
  );
  expect(decision.rejoins).toEqual([]);
  expect(decision.refusals).toEqual([expect.objectContaining({ type: ErrorType.NodeNotEmpty })]);
});

test('an unknown node that is not failing is refused, not forgotten', () => {
  const lines = healthy();
  lines.set('stranger', { ...healthyLine(node('r1')), id: 'stranger-id', port: 1, masterId: 'id-m1' });
  const decision = decideRepair(spec, cluster(lines));
  expect(decision.forgets).toEqual([]);
  expect(decision.refusals).toEqual([expect.objectContaining({ type: ErrorType.TopologyConflict })]);
});

test('a spec master that is a replica of its replica takes its slots back', () => {
  const lines = healthy();
  lines.set('m1', { ...lines.get('m1')!, role: 'replica', flags: ['slave'], masterId: 'id-r2', slots: [] });
  lines.set('r2', {
    ...lines.get('r2')!,
    role: 'master',
    flags: ['master'],
    masterId: undefined,
    slots: nodeSlots(node('m1')),
  });
  const decision = decideRepair(spec, cluster(lines));
  expect(decision.failbacks).toEqual([{ node: node('m1'), from: node('r2') }]);
  expect(decision.takeovers).toEqual([]);
});
