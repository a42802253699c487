/**
 * Drift checks on a Temporal Schedule, on real servers: a provisioned seed cluster, a schedule running the read-only
 * check every 2 s; a clean run reports no drift; a replica's nofailover turned off by hand is reported by a later
 * run (its result, its RedisClusterStep, and a visibility query); deleting the schedule stops it.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DriftReport } from '../../src/activities';
import { PROJECT_ROOT } from '../../src/host/tools';
import { driftScheduleId } from '../../src/client';
import type { ClusterSpec } from '../../src/model';
import { withNode } from '../../src/redis/connection';
import { type RunningStack, startRunningStack } from '../helpers/running-stack';
import { seedTopology } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

const execFileAsync = promisify(execFile);
let rs: RunningStack;
let spec: ClusterSpec;

beforeAll(async () => {
  rs = await startRunningStack('drift');
  spec = await seedTopology(rs.stack, 'drift');
  await rs.client.provision(spec);
  await rs.client.result(spec.name);
});

afterAll(async () => {
  await rs?.stop();
});

/** The newest completed drift check started after `since`, with its result and RedisClusterStep. */
async function nextCheck(since: number): Promise<{ report: DriftReport; step?: string }> {
  return waitFor(
    'a drift check to complete',
    async () => {
      for await (const run of rs.client.client.workflow.list({
        query: `WorkflowType="verifyRedisCluster" AND ExecutionStatus="Completed"`,
      })) {
        if (run.startTime.getTime() <= since) continue;
        const report = (await rs.client.client.workflow.getHandle(run.workflowId, run.runId).result()) as DriftReport;
        const step = (await rs.client.list(`WorkflowId="${run.workflowId}"`))[0]?.step;
        return { report, step };
      }
      return undefined;
    },
    60_000,
  );
}

test('a scheduled check finds no drift, then the drift made by hand, and stops when deleted', async () => {
  const scheduleId = await rs.client.scheduleVerify(spec, '2s');
  expect(scheduleId).toBe(driftScheduleId(spec.name));
  const clean = await nextCheck(Date.now());
  expect(clean.report).toEqual({ cluster: spec.name, drift: [], nodesUp: 8, nodesDown: [] });
  expect(clean.step).toBe('no-drift');

  const r1 = spec.nodes.find((n) => n.id === 'r1')!;
  await withNode(r1, (c) => c.call('CONFIG', 'SET', 'cluster-replica-no-failover', 'no'));
  try {
    const changed = Date.now();
    const drifted = await nextCheck(changed);
    expect(drifted.report.drift).toEqual(
      expect.arrayContaining([expect.stringMatching(/^r1 .*cluster-replica-no-failover is not yes/)]),
    );
    expect(drifted.step).toBe(`drift:${drifted.report.drift.length}`);
    const found = await rs.client.list(`RedisCluster="${spec.name}" AND RedisClusterStep STARTS_WITH "drift:"`);
    expect(found.length).toBeGreaterThan(0);
  } finally {
    await withNode(r1, (c) => c.call('CONFIG', 'SET', 'cluster-replica-no-failover', 'yes'));
  }

  // `rco list` shows them, reaching the server through a profile of the profiles file the temporal CLI shares.
  const profiles = path.join(rs.stack.stateDir, 'temporal.toml');
  writeFileSync(profiles, `[profile.ops]\naddress = "${rs.stack.temporal.address}"\nnamespace = "default"\n`);
  const { TEMPORAL_ADDRESS: _unset, ...env } = process.env;
  const { stdout } = await execFileAsync(path.join(PROJECT_ROOT, 'bin', 'rco'), ['list', '--cluster', spec.name], {
    env: { ...env, TEMPORAL_CONFIG_FILE: profiles, TEMPORAL_PROFILE: 'ops' },
  });
  expect(stdout).toMatch(new RegExp(`${scheduleId}\\S*\\s+verifyRedisCluster\\s+COMPLETED\\s+drift:\\d+`));

  await rs.client.deleteSchedule(spec.name);
  await expect(rs.client.client.schedule.getHandle(scheduleId).describe()).rejects.toThrow(/not found/i);
});
