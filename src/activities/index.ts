/** All activities, bound to their dependencies. Workflows see only the types of what this returns. */
import { readFileSync } from 'node:fs';
import type { ClusterSpec } from '../spec';
import { assignSlots, formCluster, inspectNodes, replicateNodes, setNoFailover } from './cluster';
import { fetchConfigs } from './configs';
import { startNodes } from './nodes';
import { type S3ClientFactory, defaultS3ClientFactory } from './s3';
import {
  type CopyChunkInput,
  clearCheckpoints,
  copyShardChunk,
  planMigration,
  prepareRdbShard,
  readSourceWriteStamps,
  recopyKeys,
  releaseRdbShard,
} from './migration';
import type { Shard } from '../migration/sources';
import { countTargetKeys } from '../migration/target';
import { type VerifyShardInput, findExtraKeys, verifyShard, verifyShardKeys } from '../migration/verify';
import { resolveAuth } from '../redis/auth';
import { type ClusterAccess, NodeAuthError, withClusterAccess } from '../redis/connection';
import { ErrorType } from '../spec';
import { fail, log, withHeartbeat } from './support';
import { verifyCluster } from './verify';

export interface ActivityDeps {
  /** Builds the S3 client for a spec's settings. @default credentials from the standard AWS chain */
  s3ClientFactory?: S3ClientFactory;
}

/** The spec an activity works on: its first argument, or the `spec` of its input object. */
function specOf(args: unknown[]): ClusterSpec | undefined {
  const first = args[0] as { nodes?: unknown; spec?: ClusterSpec } | undefined;
  return first?.nodes ? (first as ClusterSpec) : first?.spec;
}

/**
 * How to reach the spec's nodes: the secret its `auth` names and the TLS files it names, read here on the worker.
 * They never travel back to the workflow.
 */
export function accessFor(spec: ClusterSpec | undefined): ClusterAccess {
  let auth;
  try {
    auth = resolveAuth(spec?.auth);
  } catch (err) {
    return fail(ErrorType.NodeAuthFailed, `auth: ${(err as Error).message}`);
  }
  if (!spec?.tls) return { auth };
  const read = (field: 'caFile' | 'certFile' | 'keyFile') => {
    try {
      return readFileSync(spec.tls![field]);
    } catch (err) {
      return fail(ErrorType.TlsFilesUnreadable, `tls.${field}: ${(err as Error).message}`);
    }
  };
  return { auth, tls: { ca: read('caFile'), cert: read('certFile'), key: read('keyFile') } };
}

/**
 * Each activity: reaches the nodes with the spec's credentials and TLS, turns a refused login into a non-retryable
 * failure, and logs through the activity's Temporal logger what it found and changed (its result, shortened).
 */
function wrapped<A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const access = accessFor(specOf(args));
    let result: R;
    try {
      result = await withClusterAccess(access, () => fn(...args));
    } catch (err) {
      if (err instanceof NodeAuthError) fail(ErrorType.NodeAuthFailed, `auth: ${err.message}`);
      if (/^NOAUTH/.test((err as Error).message))
        fail(
          ErrorType.NodeAuthFailed,
          `auth: a node requires a password, but the spec has no auth; name it with auth.passwordEnv or auth.passwordFile (${(err as Error).message})`,
        );
      throw err;
    }
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
    verifyShard: (spec: ClusterSpec, shard: Shard, keys?: string[], all?: boolean) =>
      verifyShard(spec, shard, keys, all),
    recopyKeys: (spec: ClusterSpec, shard: Shard, keys: string[]) => recopyKeys(spec, shard, keys),
    clearCheckpoints: (spec: ClusterSpec, shards: Shard[]) => clearCheckpoints(spec, shards),
    countTargetKeys: (spec: ClusterSpec) => countTargetKeys(spec),
    readSourceWriteStamps: (spec: ClusterSpec, shards: Shard[]) => readSourceWriteStamps(spec, shards),
    verifyShardKeys: (input: VerifyShardInput) =>
      verifyShardKeys(input, (keys) => recopyKeys(input.spec, input.shard, keys)),
    findExtraKeys: (spec: ClusterSpec, shards: Shard[], keys?: string[], remove?: boolean) =>
      findExtraKeys(spec, shards, keys, remove),
  };
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      wrapped(name, fn as (...args: unknown[]) => Promise<unknown>),
    ]),
  ) as typeof activities;
}

export type Activities = ReturnType<typeof createActivities>;
export type { ClusterReport, NodeReport } from './verify';
export type { CopyCounters, CopyMode, MigrationPlan } from './migration';
export type { Shard } from '../migration/sources';
export type { ExtraKeys, KeyDifference, ShardVerification } from '../migration/verify';
