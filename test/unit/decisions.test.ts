/** The per-step decisions, from hand-made live states: no server needed. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  decideConfigs,
  decideForming,
  decideNoFailover,
  decidePreflight,
  decideReplication,
  decideSlots,
  decideStarts,
  firstRefusals,
} from '../../src/cluster/decisions';
import { type LiveCluster, type LiveNode, withAbsentNodesStarted } from '../../src/cluster/live';
import {
  type ClusterSpec,
  type NodeSpec,
  ErrorType,
  describeRanges,
  localizeSpec,
  renderNodeConf,
} from '../../src/model';
import type { ClusterNodeLine } from '../../src/redis/cluster-nodes';
import { decideSlotMoves, slotMoveChanges } from '../../src/cluster/reshard';
import { type DepartingNode, decideRemovals, removalChanges } from '../../src/cluster/remove-nodes';

const spec: ClusterSpec = localizeSpec(
  JSON.parse(readFileSync(path.join(__dirname, '../../examples/seed-cluster.json'), 'utf8')),
  { configDir: '/tmp/rco-unit/etc' },
);
const node = (id: string) => spec.nodes.find((n) => n.id === id)!;

function line(n: NodeSpec, over: Partial<ClusterNodeLine> = {}): ClusterNodeLine {
  return {
    id: `id-${n.id}`,
    host: n.host,
    port: n.port,
    busPort: n.port + 10000,
    flags: ['master'],
    role: 'master',
    myself: false,
    configEpoch: 0,
    linkState: 'connected',
    slots: [],
    handshake: false,
    noFailover: false,
    failing: false,
    openSlots: [],
    ...over,
  };
}

/** A running node that knows `others`, with `info` overrides. */
function running(
  n: NodeSpec,
  me: Partial<ClusterNodeLine> = {},
  others: ClusterNodeLine[] = [],
  more: Partial<LiveNode> = {},
): LiveNode {
  const myself = line(n, { myself: true, flags: ['myself', me.role === 'replica' ? 'slave' : 'master'], ...me });
  return {
    spec: n,
    port: { kind: 'redis' },
    clusterEnabled: true,
    keys: 0,
    view: {
      clusterInfo: {
        cluster_known_nodes: String(others.length + 1),
        cluster_my_epoch: '0',
        cluster_current_epoch: '0',
      },
      nodes: [myself, ...others],
      myself,
    },
    noFailoverLive: false,
    noFailoverOnDisk: false,
    ...more,
  };
}

const absent = (n: NodeSpec): LiveNode => ({ spec: n, port: { kind: 'free' }, busFree: true });
const allAbsent = (): LiveCluster => new Map(spec.nodes.map((n) => [n.id, absent(n)]));

test('nothing running: every node is started, nothing refused', () => {
  const live = allAbsent();
  expect(decidePreflight(spec, live).refusals).toEqual([]);
  expect(decideStarts(spec, live).map((n) => n.id)).toEqual(spec.nodes.map((n) => n.id));
});

test('once absent nodes are started from their configs: every slot added, every master met, every replica attached', () => {
  const configs = new Map(
    spec.nodes.map((n) => [
      n.id,
      renderNodeConf({ port: n.port, bind: n.host, dataDir: '/d', replica: n.role === 'replica', nofailover: false }),
    ]),
  );
  const projected = withAbsentNodesStarted(allAbsent(), configs);
  expect(decideSlots(spec, projected).adds.map((a) => `${a.node.id}:${describeRanges(a.ranges)}`)).toEqual([
    'm1:0-4095',
    'm2:4096-8191',
    'm3:8192-12287',
    'm4:12288-16383',
  ]);
  const forming = decideForming(spec, projected);
  expect(forming.epochs.map((e) => `${e.node.id}=${e.epoch}`)).toEqual(['m1=1', 'm2=2', 'm3=3', 'm4=4']);
  expect(forming.meets.map((m) => `${m.node.id}->${m.others.map((o) => o.id).join(',')}`)).toEqual([
    'm1->m2,m3,m4',
    'm2->m1,m3,m4',
    'm3->m1,m2,m4',
    'm4->m1,m2,m3',
  ]);
  expect(decideReplication(spec, projected).attach.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
  expect(decideNoFailover(spec, projected).set.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
});

test('ports come first: something that is not Redis, then a taken bus port, then the nodes', () => {
  const live = allAbsent();
  live.set('m2', { spec: node('m2'), port: { kind: 'other', reply: 'HTTP/1.1 400' } });
  live.set('r1', { ...absent(node('r1')), busFree: false });
  live.set('m3', running(node('m3'), {}, [], { keys: 5 }));
  const { refusals } = decidePreflight(spec, live);
  expect(refusals.map((r) => r.type)).toEqual([ErrorType.PortNotRedis, ErrorType.NodeNotEmpty, ErrorType.BusPortInUse]);
  expect(firstRefusals(refusals).map((r) => r.type)).toEqual([ErrorType.PortNotRedis]);
  expect(firstRefusals(refusals.slice(1)).map((r) => r.type)).toEqual([ErrorType.BusPortInUse]);
});

test('a node of another cluster, a lone node holding keys, a master with foreign slots, a replica with slots', () => {
  const live = allAbsent();
  const stranger = line(node('m1'), { host: '10.9.9.9', port: 7000, id: 'stranger' });
  live.set('m1', running(node('m1'), {}, [stranger]));
  live.set('m2', running(node('m2'), {}, [], { keys: 3 }));
  live.set('m3', running(node('m3'), { slots: [[0, 10]] }));
  live.set('r1', running(node('r1'), { slots: [[5, 5]] }));
  const messages = decidePreflight(spec, live).refusals.map((r) => `${r.type}: ${r.message}`);
  expect(messages).toEqual([
    expect.stringMatching(/^NodeInOtherCluster: m1 .* knows 10\.9\.9\.9:7000/),
    expect.stringMatching(/^NodeNotEmpty: m2 .* holds 3 key\(s\)/),
    expect.stringMatching(/^SlotConflict: m3 .* owns slots 0-10, which the spec gives to other masters/),
    expect.stringMatching(/^TopologyConflict: r1 .* owns slots 5, but the spec makes it a replica/),
  ]);
});

test('slots: only the ones nobody owns are added; a slot another master owns is moved, a half-moved one settled', () => {
  const live = allAbsent();
  live.set('m1', running(node('m1'), { slots: [[0, 99]] }));
  live.set('m2', running(node('m2'), {}, [line(node('m3'), { slots: [[4096, 4100]] })]));
  const { adds, refusals } = decideSlots(spec, live);
  expect(adds.find((a) => a.node.id === 'm1')!.ranges).toEqual([[100, 4095]]);
  expect(adds.find((a) => a.node.id === 'm2')!.ranges).toEqual([[4101, 8191]]);
  expect(refusals).toEqual([]);
  expect(decideSlotMoves(spec, live).map((m) => [m.from.id, m.to.id, m.ranges, m.open])).toEqual([
    ['id-m3', 'm2', [[4096, 4100]], []],
  ]);

  // redis-cli left slot 7 migrating from m1 to m2 (and importing on m2): settled toward m1, which the spec names.
  live.set(
    'm1',
    running(node('m1'), { slots: [[0, 4095]], openSlots: [{ slot: 7, state: 'migrating', peer: 'id-m2' }] }, [
      line(node('m2'), { slots: [[4096, 8191]] }),
    ]),
  );
  live.set(
    'm2',
    running(node('m2'), { slots: [[4096, 8191]], openSlots: [{ slot: 7, state: 'importing', peer: 'id-m1' }] }, [
      line(node('m1'), { slots: [[0, 4095]] }),
    ]),
  );
  const moves = decideSlotMoves(spec, live);
  expect(moves.map((m) => [m.from.id, m.to.id, m.ranges, m.open])).toEqual([['id-m1', 'm1', [[7, 7]], [7]]]);
  expect(slotMoveChanges(moves)[0]!.change).toBe(
    'settle slots 7 it owns but were left half-moved, closing 1 half-moved slot(s)',
  );
});

test('replication and nofailover: what is already right is left alone', () => {
  const live = new Map(spec.nodes.map((n) => [n.id, running(n)]));
  live.set(
    'r1',
    running(node('r1'), { role: 'replica', masterId: 'id-m3' }, [], { noFailoverLive: true, noFailoverOnDisk: true }),
  );
  live.set('r2', running(node('r2'), { role: 'replica', masterId: 'id-m4' }, [], { noFailoverLive: true }));
  expect(decideReplication(spec, live).attach.map((r) => r.id)).toEqual(['r2', 'r3', 'r4']);
  const nofailover = decideNoFailover(spec, live);
  expect(nofailover.set.map((r) => r.id)).toEqual(['r3', 'r4']);
  expect(nofailover.persist.map((r) => r.id)).toEqual(['r2', 'r3', 'r4']);
  expect(decideNoFailover({ ...spec, nofailover: false }, live)).toEqual({ set: [], persist: [] });
});

test('configs: written when they differ and the node is not running; a running node keeps its file', () => {
  const text = (n: NodeSpec) =>
    renderNodeConf({ port: n.port, bind: n.host, dataDir: '/d', replica: n.role === 'replica', nofailover: true });
  const sources = new Map(spec.nodes.map((n) => [n.id, text(n)]));
  const onDisk = new Map<string, string | undefined>([
    ['m1', text(node('m1'))],
    ['m2', 'port 1\n'],
    ['m3', 'port 1\n'],
  ]);
  const decision = decideConfigs(spec, sources, onDisk, (n) => n.id === 'm3');
  expect(decision.refusals).toEqual([]);
  expect(decision.results.slice(0, 4).map((r) => `${r.node}:${r.action}`)).toEqual([
    'm1:unchanged',
    'm2:written',
    'm3:kept-running-node',
    'm4:written',
  ]);
  const bad = decideConfigs(spec, new Map([['m1', 'port 1\n']]), new Map(), () => false);
  expect(bad.refusals[0]).toMatchObject({ type: ErrorType.ConfigInvalid });
  expect(bad.refusals[0]!.message).toContain('lacks "cluster-enabled yes"');
});

describe('removing nodes (the spec\'s "remove")', () => {
  const gone = { host: '127.0.0.1', port: 50009, stop: true };
  const goneNode = { ...node('m1'), id: 'm5', port: 50009 };
  const goneReplica = { host: '127.0.0.1', port: 50010, stop: false };
  const seen = (over: Partial<ClusterNodeLine> = {}) => line(goneNode, over);
  const departing = (over: Partial<DepartingNode> = {}): DepartingNode => ({
    gone,
    running: true,
    keys: 0,
    view: { clusterInfo: {}, nodes: [seen({ myself: true }), line(node('m1'))], myself: seen({ myself: true }) },
    seenAs: [seen()],
    ...over,
  });

  test('a node the spec lists under remove is not another cluster’s; one it does not list still is', () => {
    const live = allAbsent();
    live.set('m1', running(node('m1'), {}, [seen()]));
    expect(decidePreflight(spec, live).refusals.map((r) => r.message)).toEqual([
      expect.stringMatching(/knows 127\.0\.0\.1:50009 .*list them under "remove"/),
    ]);
    expect(decidePreflight({ ...spec, remove: [gone] }, live).refusals).toEqual([]);
  });

  test('an empty master is forgotten, reset and stopped; a replica is, its keys being a copy', () => {
    const replica = departing({
      gone: goneReplica,
      keys: 40,
      seenAs: [seen({ id: 'id-r5', port: 50010, role: 'replica', masterId: 'id-m5' })],
      view: undefined,
    });
    const plan = decideRemovals([departing(), replica]);
    expect(plan.refusals).toEqual([]);
    expect(plan.removals).toEqual([
      { address: '127.0.0.1:50009', id: 'id-m5', role: 'master', reset: true, stop: true },
      { address: '127.0.0.1:50010', id: 'id-r5', role: 'replica', reset: false, stop: false },
    ]);
    expect(removalChanges(plan.removals).map((c) => c.change)).toEqual([
      'forget master 127.0.0.1:50009 (id-m5) on every node, CLUSTER RESET SOFT on it, stop it',
      'forget replica 127.0.0.1:50010 (id-r5) on every node',
    ]);
  });

  test('a master that still owns slots or holds keys is never removed; nor is a stranger holding keys', () => {
    const withSlots = departing({ seenAs: [seen({ slots: [[7000, 8191]] })] });
    const withKeys = departing({ keys: 12 });
    const stranger = departing({ keys: 5, seenAs: [], view: undefined });
    expect(decideRemovals([withSlots, withKeys, stranger]).refusals.map((r) => `${r.type}: ${r.message}`)).toEqual([
      expect.stringMatching(/^SlotConflict: 127\.0\.0\.1:50009 still owns slots 7000-8191/),
      expect.stringMatching(/^NodeNotEmpty: 127\.0\.0\.1:50009 holds 12 key\(s\) in slots it does not own/),
      expect.stringMatching(/^NodeNotEmpty: 127\.0\.0\.1:50009 holds 5 key\(s\) and is not part of the cluster/),
    ]);
    // Planned before moveSlots, a master's slots are to be moved: no refusal then.
    expect(decideRemovals([withSlots], { afterMoves: true }).refusals).toEqual([]);
  });

  test('once out: nothing left to do, but a node to stop that still runs is stopped', () => {
    const out = departing({ seenAs: [], view: undefined });
    expect(decideRemovals([out]).removals).toEqual([
      { address: '127.0.0.1:50009', id: undefined, role: undefined, reset: false, stop: true },
    ]);
    expect(decideRemovals([{ ...out, running: false }]).removals).toEqual([]);
    expect(decideRemovals([{ ...out, gone: { ...gone, stop: false } }]).removals).toEqual([]);
  });
});
