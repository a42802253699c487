/**
 * Our metrics, recorded through the activity's Temporal metric meter: the worker serves them on its Prometheus
 * endpoint (RCO_METRICS_ADDRESS) beside the SDK's own. Derived from each activity's input and result, so the
 * engine itself knows nothing of them. Outside an activity (CLI plan and verify) nothing is recorded.
 */
import { Context } from '@temporalio/activity';
import type { MetricMeter } from '@temporalio/common';
import type { DriftReport } from '../cluster/drift';
import type { ClusterReport } from '../cluster/report';
import type { CopyChunkInput, CopyChunkResult } from '../migration/copy';
import type { SyncChunkInput, SyncChunkResult } from '../migration/sync/sync';
import type { ShardVerification } from '../migration/verify';
import type { ClusterSpec } from '../model';

function meter(): MetricMeter | undefined {
  try {
    return Context.current().metricMeter;
  } catch {
    return undefined;
  }
}

/** One activity's duration and outcome, and what its result says about the copy, the sync or the cluster. */
export function recordActivity(
  name: string,
  spec: ClusterSpec | undefined,
  args: unknown[],
  durationMs: number,
  result: unknown,
  failed: boolean,
): void {
  const m = meter();
  if (!m) return;
  const cluster = spec?.name ?? '';
  m.createHistogram('rco_activity_duration', 'int', 'ms', 'how long each step (activity) took').record(durationMs, {
    cluster,
    activity: name,
    outcome: failed ? 'failed' : 'ok',
  });
  if (failed || result === undefined) return;
  if (name === 'copyShardChunk') {
    const input = args[0] as CopyChunkInput;
    const { counters } = result as CopyChunkResult;
    const tags = { cluster, shard: input.shard.id };
    m.createCounter('rco_keys_copied', 'keys', 'keys copied into the cluster').add(
      Math.max(0, counters.copied - input.counters.copied),
      tags,
    );
    m.createCounter('rco_keys_failed', 'keys', 'keys that could not be copied').add(
      Math.max(0, counters.failed - input.counters.failed),
      tags,
    );
  } else if (name === 'syncShardChunk') {
    const input = args[0] as SyncChunkInput;
    const sync = result as SyncChunkResult;
    const tags = { cluster, shard: input.shard.id };
    m.createCounter('rco_sync_commands_applied', 'commands', 'replication commands applied').add(sync.ops, tags);
    m.createGauge('rco_sync_lag_bytes', 'int', 'bytes', 'replication offset the cluster is behind').set(
      sync.lagBytes,
      tags,
    );
    m.createGauge('rco_sync_lag_seconds', 'float', 's', 'replication lag, estimated').set(sync.lagSeconds, tags);
    if (sync.snapshot)
      m.createCounter('rco_keys_copied', 'keys', 'keys copied into the cluster').add(sync.snapshot.keys, tags);
  } else if (name === 'verifyShardKeys') {
    const verification = result as ShardVerification;
    m.createGauge('rco_verify_differences', 'int', 'keys', 'differences the last verify left').set(
      verification.differencesFound,
      { cluster, shard: verification.shard },
    );
  } else if (name === 'checkDrift') {
    const report = result as DriftReport;
    m.createGauge('rco_cluster_drift', 'int', 'differences', 'differences from the spec at the last drift check').set(
      report.drift.length,
      { cluster },
    );
    m.createGauge('rco_cluster_nodes_up', 'int', 'nodes', 'nodes answering at the last verify').set(report.nodesUp, {
      cluster,
    });
  } else if (name === 'verifyCluster' || name === 'verifyRepaired') {
    const report = result as ClusterReport;
    m.createGauge('rco_cluster_nodes_up', 'int', 'nodes', 'nodes answering at the last verify').set(
      report.nodes.length,
      { cluster },
    );
    m.createGauge('rco_cluster_state_ok', 'int', '', '1 when every node reported cluster_state ok').set(
      report.clusterState === 'ok' ? 1 : 0,
      { cluster },
    );
  }
}
