/**
 * bench:migrate's phase for the notifications method (migration.liveMethod "notifications"): the same source, the
 * same burst of writes as the PSYNC stream phase, followed by keyspace notifications instead of replication. Prints
 * the first pass's keys/s, how long the burst took to be in the cluster (commands/s), the lag at the burst's end
 * (keys notified and waiting), and the keys copied again for it.
 */
import type Redis from 'ioredis';
import type { RedisClusterClient } from '../../src/client';
import { migrationWorkflowId } from '../../src/client';
import { withSpecAccess } from '../../src/cluster/access';
import { waitDrained } from '../../src/migration/notify/drain';
import { firstShardProgress, untilStreaming } from './progress';
import type { ClusterSpec, MigrationSpecInput } from '../../src/model';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface NotificationsPhase {
  client: RedisClusterClient;
  source: Redis;
  port: number;
  migrate: (name: string, migration: MigrationSpecInput) => Promise<ClusterSpec & { firstRunId: string }>;
  /** Writes the burst on the source (redis-benchmark), returns the commands issued. */
  burst: () => number;
  line: (name: string, value: string | number) => void;
}

export async function notificationsPhase(bench: NotificationsPhase): Promise<{ applyOpsPerSecond: number }> {
  const { client, source, port, line } = bench;
  await source.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
  try {
    const spec = await bench.migrate('bench-notify', {
      mode: 'live',
      liveMethod: 'notifications',
      source: { type: 'standalone', host: '127.0.0.1', port },
    });
    const id = migrationWorkflowId(spec.name);
    const progress = firstShardProgress(client, spec.name);
    const shard = await untilStreaming(progress);
    const passRate = shard.snapshotKeys! / shard.snapshotSeconds!;
    console.log(`notifications: first pass of ${shard.snapshotKeys} keys in ${shard.snapshotSeconds!.toFixed(1)} s`);
    line('notifications_first_pass_keys_per_s', Math.round(passRate));

    const before = shard.opsApplied;
    const chunks = shard.partialResyncs;
    const started = performance.now();
    const issued = bench.burst();
    const written = (performance.now() - started) / 1000;
    const waiting = (await progress())?.pendingKeys ?? 0;
    const shards = [{ id: `127.0.0.1:${port}`, host: '127.0.0.1', port }];
    const syncId = `${id}:${spec.firstRunId}`;
    while (!(await withSpecAccess(spec, () => waitDrained(spec, shards, syncId, 60_000))));
    const applySeconds = (performance.now() - started) / 1000;
    // The keys copied for the burst: counted when the chunk that copied them ends.
    while (((await progress())?.partialResyncs ?? 0) < chunks + 2) await sleep(500);
    const copied = (await progress())!.opsApplied - before;
    console.log(
      `notifications: ${issued} commands written in ${written.toFixed(1)} s, in the cluster by ${applySeconds.toFixed(1)} s; ${copied} keys copied again (${waiting} waiting when the last chunk before the burst's end reported)`,
    );
    const applyOpsPerSecond = issued / applySeconds;
    line('notifications_apply_commands_per_s', Math.round(applyOpsPerSecond));
    line('notifications_keys_copied_again', copied);
    const report = await client.cutover(spec.name, { pauseBudgetMs: 2000, verify: 'sample' });
    if (!report.done) throw new Error(`the notifications cutover did not happen: ${report.reason}`);
    line('notifications_cutover_pause_ms', report.writePauseMs);
    return { applyOpsPerSecond };
  } finally {
    await source.call('CONFIG', 'SET', 'notify-keyspace-events', '');
  }
}
