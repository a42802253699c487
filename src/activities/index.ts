/** All activities, bound to their dependencies. Workflows see only the types of what this returns. */
import type { ClusterSpec } from '../spec';
import { assignSlots, formCluster, inspectNodes, replicateNodes, setNoFailover } from './cluster';
import { fetchConfigs } from './configs';
import { startNodes } from './nodes';
import { type S3ClientFactory, defaultS3ClientFactory } from './s3';
import {
  type CopyChunkInput,
  type Shard,
  clearCheckpoints,
  copyShardChunk,
  countTargetKeys,
  planMigration,
  prepareRdbShard,
  recopyKeys,
  releaseRdbShard,
  verifyShard,
} from './migration';
import { log, withHeartbeat } from './support';
import { verifyCluster } from './verify';

export interface ActivityDeps {
  /** Builds the S3 client for a spec's settings. @default credentials from the standard AWS chain */
  s3ClientFactory?: S3ClientFactory;
}

/** Logs, through the activity's Temporal logger, what each activity found and changed (its result, shortened). */
function logged<A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const result = await fn(...args);
    const text = JSON.stringify(result) ?? 'nothing';
    log.info(`${name} finished`, { result: text.length > 2000 ? `${text.slice(0, 2000)}...` : text });
    return result;
  };
}

export function createActivities(deps: ActivityDeps = {}) {
  const s3 = deps.s3ClientFactory ?? defaultS3ClientFactory;
  const activities = {
    // Every activity heartbeats (these two through withHeartbeat): a killed worker is noticed in seconds.
    fetchConfigs: (spec: ClusterSpec) => withHeartbeat(() => fetchConfigs(spec, s3)),
    startNodes: (spec: ClusterSpec) => startNodes(spec),
    inspectNodes: (spec: ClusterSpec) => withHeartbeat(() => inspectNodes(spec)),
    formCluster: (spec: ClusterSpec) => formCluster(spec),
    assignSlots: (spec: ClusterSpec) => assignSlots(spec),
    replicateNodes: (spec: ClusterSpec) => replicateNodes(spec),
    setNoFailover: (spec: ClusterSpec) => setNoFailover(spec),
    verifyCluster: (spec: ClusterSpec) => verifyCluster(spec),
    planMigration: (spec: ClusterSpec) => planMigration(spec),
    prepareRdbShard: (spec: ClusterSpec, shard: Shard) => prepareRdbShard(spec, shard, s3),
    copyShardChunk: (input: CopyChunkInput) => copyShardChunk(input),
    releaseRdbShard: (shard: Shard) => releaseRdbShard(shard),
    verifyShard: (spec: ClusterSpec, shard: Shard, keys?: string[]) => verifyShard(spec, shard, keys),
    recopyKeys: (spec: ClusterSpec, shard: Shard, keys: string[]) => recopyKeys(spec, shard, keys),
    clearCheckpoints: (spec: ClusterSpec, shards: Shard[]) => clearCheckpoints(spec, shards),
    countTargetKeys: (spec: ClusterSpec) => countTargetKeys(spec),
  };
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      logged(name, fn as (...args: unknown[]) => Promise<unknown>),
    ]),
  ) as typeof activities;
}

export type Activities = ReturnType<typeof createActivities>;
export type { ClusterReport, NodeReport } from './verify';
export type { CopyCounters, CopyMode, MigrationPlan, Shard, ShardVerification } from './migration';
