/**
 * Day two on real servers, on the seed topology (nofailover on every replica) holding keys acknowledged by a replica
 * (WAIT): a planned failover and the repair's failback under a write load from a cluster client; a takeover refused
 * for a master that answers; a master that lost its data, repaired with approvals (takeover, forget); a replica that
 * lost its data and a master killed with its data, repaired together.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { inspectLiveCluster, planClusterRepair } from '../../src/cluster/inspect';
import { toolPath } from '../../src/host/tools';
import type { RepairResult } from '../../src/client';
import { type ClusterSpec, ErrorType } from '../../src/model';
import { dayTwo } from '../helpers/day-two';
import { rootApplicationFailure } from '../helpers/failures';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { seedTopology } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

const execFileAsync = promisify(execFile);
let rs: RunningStack;
let spec: ClusterSpec;
let d: ReturnType<typeof dayTwo>;

const repairResult = (workflowId: string) => rs.client.handle(workflowId).result() as Promise<RepairResult>;

beforeAll(async () => {
  rs = await startRunningStack('repair');
  spec = await seedTopology(rs.stack, 'repair');
  d = dayTwo(spec, rs.stack.stateDir);
  await rs.client.provision(spec);
  await rs.client.result(spec.name);
  await d.writeAcknowledged('base', 200);
});

afterAll(async () => {
  await rs?.stop();
});

test('a master that answers is refused a takeover, and nothing changes', async () => {
  const before = await d.myId('r1');
  const handle = await rs.client.failover(spec, { master: 'm3', force: true, approve: ['takeover'] });
  const failure = await handle.result().then(
    () => undefined,
    (err: unknown) => rootApplicationFailure(err),
  );
  expect(failure?.type).toBe(ErrorType.TakeoverRefused);
  expect(failure?.message).toMatch(/m3 .*answers and owns slots 8192-12287/);
  expect((await d.clusterNodes('r1')).find((n) => n.myself)).toMatchObject({ id: before, role: 'replica' });
  await d.expectSpecRoles();
});

test('planned failover and the repair failing back, under a write load from a cluster client', async () => {
  const cluster = new Cluster([{ host: '127.0.0.1', port: d.node('m2').port }], { maxRedirections: 64 });
  const errors: string[] = [];
  let stopping = false;
  let ops = 0;
  const load = (async () => {
    const started = Date.now();
    while (!stopping && ops < 40_000 && Date.now() - started < 60_000) {
      const batch = Array.from({ length: 20 }, (_, i) => `load:${ops + i}`);
      await Promise.all(
        batch.map((key) =>
          cluster.set(key, key).then(
            () => d.acknowledged.set(key, key),
            (err: Error) => errors.push(`${key}: ${err.message}`),
          ),
        ),
      );
      ops += batch.length;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    await waitFor('the load to run', async () => (ops > 500 ? true : undefined));
    const failover = await rs.client.failover(spec, { master: 'm1' });
    const moved = (await failover.result()) as { changes: { node?: string; change: string }[] };
    expect(moved.changes).toEqual([expect.objectContaining({ node: 'r2', change: expect.stringMatching(/0-4095/) })]);
    const r2 = (await d.clusterNodes('r2')).find((n) => n.myself)!;
    expect(r2.role).toBe('master');
    expect(r2.slots).toEqual([[0, 4095]]);
    expect((await d.clusterNodes('m1')).find((n) => n.myself)!.masterId).toBe(r2.id);

    const repaired = await repairResult((await rs.client.repair(spec)).workflowId);
    expect(repaired.changes).toEqual(
      expect.arrayContaining([expect.objectContaining({ node: 'm1', change: 'took its slots back from r2' })]),
    );
    expect(repaired.report.problems).toEqual([]);
  } finally {
    stopping = true;
    await load;
    cluster.disconnect();
  }
  expect(errors).toEqual([]);
  expect(ops).toBeGreaterThan(1000);
  await d.expectSpecRoles();
  await d.expectAcknowledgedKeys();
});

test('a master that lost its data: the cluster fails (nofailover), the repair waits for approvals and restores the spec', async () => {
  // Nothing fails over by itself: the cluster is down until someone acts.
  const { m2: oldId } = await d.breakNodes('before-m2-lost', { lost: ['m2'] });
  expect((await d.clusterNodes('r4')).find((n) => n.myself)!.role).toBe('replica');

  // Re-running provisioning does not start it empty (its replica would resync from nothing): it refuses.
  const reprovision = await rs.client.provision(spec);
  const refusal = await reprovision.result().then(
    () => undefined,
    (err: unknown) => rootApplicationFailure(err),
  );
  expect(refusal?.type).toBe(ErrorType.NodeLostData);
  expect(refusal?.message).toMatch(new RegExp(`m2 .*still knows it as ${oldId.slice(0, 8)}`));
  expect(await d.onNode('r4', (c) => c.dbsize())).toBeGreaterThanOrEqual(300);

  // `rco plan --repair` shows it first and changes nothing.
  const plan = await planClusterRepair(spec);
  expect(plan.changes.map((c) => `${c.step} ${c.node}`)).toEqual(['startNodes m2', 'takeoverMasters r4']);
  expect(plan.takeovers).toEqual([oldId]);
  expect((await d.clusterNodes('r4')).find((n) => n.myself)!.masterId).toBe(oldId);

  const handle = await rs.client.repair(spec);
  const waiting = async (approval: string) =>
    waitFor(`the repair to wait for ${approval}`, async () => {
      const progress = await rs.client.progress(handle.workflowId);
      return progress.waitingForApproval?.approval === approval ? progress.waitingForApproval : undefined;
    });
  const takeover = await waiting('takeover');
  expect(takeover.plan).toEqual([
    expect.objectContaining({
      node: 'r4',
      change: expect.stringContaining(`take slots 4096-8191 of m2 (node ${oldId.slice(0, 8)}`),
    }),
  ]);
  // Only the two approvals there are: anything else is rejected and grants nothing.
  const refused = await rs.client.approve(spec.name, ['everything' as 'takeover']).catch((err: Error) => err);
  expect((refused as Error).cause).toMatchObject({
    message: expect.stringMatching(/approve takes a list of takeover, forget/),
  });
  // Waiting means waiting: r4 is still a replica of the lost master.
  expect((await d.clusterNodes('r4')).find((n) => n.myself)!.masterId).toBe(oldId);
  expect(await rs.client.approve(spec.name, ['takeover'])).toEqual(['takeover']);

  const forget = await waiting('forget');
  expect(forget.plan).toEqual([
    expect.objectContaining({ change: expect.stringContaining(`CLUSTER FORGET ${oldId}`) }),
  ]);
  // The README's command: the temporal CLI sends the update.
  await execFileAsync(toolPath('temporal'), [
    ...['workflow', 'update', 'execute', '--address', rs.stack.temporal.address],
    ...['--workflow-id', handle.workflowId, '--name', 'approve', '--input', '["forget"]'],
  ]);

  const result = await repairResult(handle.workflowId);
  expect(result.report.problems).toEqual([]);
  const steps = result.changes.map((c) => c.step);
  expect(steps).toEqual(
    expect.arrayContaining(['startNodes', 'takeoverMasters', 'forgetLostNodes', 'rejoinNodes', 'restoreRoles']),
  );
  const newId = await d.myId('m2');
  expect(newId).not.toBe(oldId);
  for (const n of spec.nodes) expect((await d.clusterNodes(n.id)).some((l) => l.id === oldId)).toBe(false);
  await d.expectSpecRoles();
  await d.expectAcknowledgedKeys();

  // Day two goes on: the epochs moved past the spec's, and verify and a re-run of provisioning accept that, naming
  // the repair; they used to fail on every node's currentEpoch and lastVoteEpoch.
  const verified = await inspectLiveCluster(spec);
  expect(verified.problems).toEqual([]);
  expect(verified.currentEpoch).toBeGreaterThan(4);
  expect(verified.epochsMovedBy).toMatch(
    new RegExp(`^repair by ${handle.workflowId} at .*currentEpoch ${verified.currentEpoch}`),
  );
  await rs.client.provision(spec);
  const again = await rs.client.result(spec.name);
  expect(again.report.problems).toEqual([]);
  expect(again.report.epochsMovedBy).toMatch(/^repair by /);
});

test('a replica that lost its data and a master killed with its data: one repair, forget approved in advance', async () => {
  const { r1: oldReplica, m4 } = await d.breakNodes('before-r1-lost', { lost: ['r1'], down: ['m4'] });

  const result = await repairResult((await rs.client.repair(spec, { approve: ['forget'] })).workflowId);
  expect(result.report.problems).toEqual([]);
  expect(result.changes.filter((c) => c.step === 'startNodes').map((c) => c.node)).toEqual(['m4', 'r1']);
  expect(result.changes.some((c) => c.step === 'takeoverMasters')).toBe(false);
  expect(await d.myId('m4')).toBe(m4); // came back with its data and its id
  const newReplica = await d.myId('r1');
  expect(newReplica).not.toBe(oldReplica);
  for (const n of spec.nodes) expect((await d.clusterNodes(n.id)).some((l) => l.id === oldReplica)).toBe(false);
  await d.expectSpecRoles();
  await d.expectAcknowledgedKeys();
});

test('forced failover of a master that is down, after approval; the repair restarts it and fails back', async () => {
  const { m4 } = await d.breakNodes('before-m4-down', { down: ['m4'] });

  const handle = await rs.client.failover(spec, { master: 'm4', force: true });
  const waiting = await waitFor('the failover to wait for takeover', async () => {
    const progress = await rs.client.progress(handle.workflowId);
    return progress.waitingForApproval;
  });
  expect(waiting).toEqual({
    approval: 'takeover',
    plan: [expect.objectContaining({ node: 'r3', change: expect.stringContaining(`of m4 (node ${m4.slice(0, 8)}`) })],
  });
  await rs.client.approve(spec.name, ['takeover']);
  const result = (await handle.result()) as { changes: { node?: string; change: string }[] };
  expect(result.changes).toEqual([
    expect.objectContaining({ node: 'r3', change: expect.stringMatching(/12288-16383/) }),
  ]);
  expect(await d.clusterState('m1')).toBe('ok');
  expect((await d.clusterNodes('r3')).find((n) => n.myself)).toMatchObject({ role: 'master', slots: [[12288, 16383]] });

  // m4 comes back with its data, as a replica of r3, and takes its slots back.
  const repaired = await repairResult((await rs.client.repair(spec)).workflowId);
  expect(repaired.report.problems).toEqual([]);
  expect(repaired.changes.map((c) => `${c.step} ${c.node}`)).toEqual(
    expect.arrayContaining(['startNodes m4', 'restoreRoles m4']),
  );
  expect(await d.myId('m4')).toBe(m4);
  await d.expectSpecRoles();
  await d.expectAcknowledgedKeys();
});
