/**
 * Every activity, as a thin binding: it reaches the nodes with the spec's access (auth, TLS) and calls the engine
 * (src/cluster for the provisioning steps, src/migration for the copy). Workflows see only the types of these.
 */
import { Context } from '@temporalio/activity';
import { clusterAccessFor } from '../cluster/access';
import { fetchConfigs } from '../cluster/configs';
import { checkDrift } from '../cluster/drift';
import { assignSlots, formCluster } from '../cluster/form';
import { type SlotMoveOptions, moveSlots } from '../cluster/move-slots';
import { planRemovals, removeNodes } from '../cluster/remove-nodes';
import { type StartMode, startNodes } from '../cluster/nodes';
import { setNoFailover } from '../cluster/nofailover';
import { inspectNodes } from '../cluster/preflight';
import { replicateNodes } from '../cluster/replicate';
import { type FailoverRequest, failoverMaster, planFailover } from '../cluster/failover';
import { forgetLostNodes, inspectRepair, rejoinNodes, restoreRoles, takeoverMasters } from '../cluster/repair';
import { verifyCluster } from '../cluster/report';
import { highestCurrentEpoch, recordEpochChange } from '../cluster/epochs';
import { clearCheckpoints, ownerFromActivity } from '../migration/checkpoint';
import { type CopyChunkInput, copyShardChunk, recopyKeys } from '../migration/copy';
import { removeLeftovers, runIsActiveIn } from '../migration/leftovers';
import { planMigration, readSourceWriteStamps } from '../migration/plan';
import { prepareRdbShard, releaseRdbShard } from '../migration/rdb-shards';
import { type Shard, migrationOf } from '../migration/sources';
import { notificationsChunk } from '../migration/notify/sync';
import { countTargetKeys } from '../migration/target';
import { findExtraKeys } from '../migration/extra-keys';
import { type VerifyShardInput, verifyShard, verifyShardKeys } from '../migration/verify';
import { clearSyncState, pauseAndDrain, readSyncOffsets, waitCaughtUp } from '../migration/sync/cutover';
import {
  type LiveShard,
  type SyncChunkInput,
  type SyncChunkResult as EngineSyncChunkResult,
  syncShardChunk,
} from '../migration/sync/sync';
import { type ClusterSpec, ErrorType, expectedCurrentEpoch } from '../model';
import { NodeAuthError, withClusterAccess } from '../redis/connection';
import { type S3ClientFactory, defaultS3ClientFactory } from '../s3/client';
import { fail, log, withHeartbeat, workerIdentity } from '../runtime/context';
import { recordActivity } from '../runtime/metrics';

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
 * Each activity: reaches the nodes with the spec's credentials and TLS, turns a refused login into a non-retryable
 * failure, and logs through the activity's Temporal logger what it found and changed (its result, shortened).
 */
function wrapped<A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const spec = specOf(args);
    const access = clusterAccessFor(spec);
    const started = Date.now();
    let result: R;
    try {
      result = await withClusterAccess(access, () => fn(...args));
      recordActivity(name, spec, args, Date.now() - started, result, false);
    } catch (err) {
      recordActivity(name, spec, args, Date.now() - started, undefined, true);
      if (err instanceof NodeAuthError) fail(ErrorType.NodeAuthFailed, `auth: ${err.message}`);
      if (/\bNOAUTH\b/.test((err as Error).message))
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

/** A live sync: its source masters and its id (its checkpoints in the target are keyed by it). */
export interface LiveSyncRef {
  syncId: string;
  shards: LiveShard[];
}

const settleOn = (spec: ClusterSpec, live: LiveSyncRef) => () => waitCaughtUp(spec, live.shards, live.syncId);

/**
 * Records in the cluster that this run moved the epochs past the spec's, so that later verifies and provisioning runs
 * accept agreeing epochs (src/cluster/epochs.ts) and name this change.
 */
async function recordEpochsMoved(spec: ClusterSpec, what: string, currentEpoch?: number): Promise<void> {
  try {
    const epoch = currentEpoch ?? (await highestCurrentEpoch(spec));
    if (epoch <= expectedCurrentEpoch(spec)) return;
    await recordEpochChange(
      spec,
      `${what} by ${Context.current().info.workflowExecution?.workflowId ?? 'a run'}`,
      epoch,
    );
  } catch (err) {
    // The change itself is done; without the record, a master's configEpoch still shows it (epochs.ts).
    log.warn('could not record the change that moved the epochs', { error: (err as Error).message });
  }
}

/** A shard chunk's result with the worker that ran it (the progress shows it). */
async function withWorker<T extends object>(result: Promise<T>): Promise<T & { worker: string }> {
  return { ...(await result), worker: workerIdentity() };
}

export function createActivities(deps: ActivityDeps = {}) {
  const s3 = deps.s3ClientFactory ?? defaultS3ClientFactory;
  const activities = {
    // Every activity heartbeats (these two through withHeartbeat): a killed worker is noticed in seconds.
    inspectNodes: (spec: ClusterSpec) => withHeartbeat(() => inspectNodes(spec)),
    fetchConfigs: (spec: ClusterSpec) => withHeartbeat(() => fetchConfigs(spec, s3)),
    startNodes: (spec: ClusterSpec, mode?: StartMode) => startNodes(spec, mode),
    assignSlots: (spec: ClusterSpec) => assignSlots(spec),
    formCluster: (spec: ClusterSpec) => formCluster(spec),
    moveSlots: (spec: ClusterSpec, options?: SlotMoveOptions) => moveSlots(spec, options),
    replicateNodes: (spec: ClusterSpec) => replicateNodes(spec),
    setNoFailover: (spec: ClusterSpec) => setNoFailover(spec),
    /** The spec's `remove` nodes: planned (and approved) first, then only the approved ids. */
    planRemovals: (spec: ClusterSpec) => withHeartbeat(() => planRemovals(spec)),
    removeNodes: (spec: ClusterSpec, approved: string[]) => removeNodes(spec, approved),
    verifyCluster: (spec: ClusterSpec) => verifyCluster(spec),
    checkDrift: (spec: ClusterSpec) => checkDrift(spec),
    // Repair and failover (src/cluster/repair.ts); destructive steps act only on the node ids approved.
    inspectRepair: (spec: ClusterSpec, held?: string[]) => inspectRepair(spec, held),
    takeoverMasters: (spec: ClusterSpec, approved: string[]) => takeoverMasters(spec, approved),
    forgetLostNodes: (spec: ClusterSpec, approved: string[], held?: string[]) => forgetLostNodes(spec, approved, held),
    rejoinNodes: (spec: ClusterSpec) => rejoinNodes(spec),
    restoreRoles: (spec: ClusterSpec) => restoreRoles(spec),
    /** After a failover the epochs have moved on: they must agree, not equal provisioning's; the move is recorded. */
    verifyRepaired: async (spec: ClusterSpec) => {
      const report = await verifyCluster(spec, 60_000, { exactEpochs: false });
      await recordEpochsMoved(spec, 'repair', report.currentEpoch);
      return report;
    },
    planFailover: (spec: ClusterSpec, request: FailoverRequest) => planFailover(spec, request),
    failoverMaster: async (spec: ClusterSpec, request: FailoverRequest, approvedTakeover?: string) => {
      const result = await failoverMaster(spec, request, approvedTakeover);
      await recordEpochsMoved(spec, `failover of ${request.master}`);
      return result;
    },
    /** A new run first removes what ended runs left in the target (leftovers.ts); then it plans. */
    planMigration: async (spec: ClusterSpec) => {
      const removed = await removeLeftovers(spec, runIsActiveIn(Context.current().client));
      if (removed.removed > 0) log.warn('removed keys that ended runs left in the target', { ...removed });
      return planMigration(spec);
    },
    prepareRdbShard: (spec: ClusterSpec, shard: Shard) => prepareRdbShard(spec, shard, s3),
    copyShardChunk: (input: CopyChunkInput) => withWorker(copyShardChunk(input)),
    releaseRdbShard: (shard: Shard) => releaseRdbShard(shard),
    /** Earlier runs' comparison (positional arguments). */
    verifyShard: (spec: ClusterSpec, shard: Shard, keys?: string[], all?: boolean) =>
      verifyShard(spec, shard, keys, all),
    /** With `live`, against a live mirror: differences are looked at again once the sync caught up, never recopied. */
    verifyShardKeys: (input: VerifyShardInput & { live?: LiveSyncRef }) =>
      input.live
        ? verifyShardKeys(input, undefined, settleOn(input.spec, input.live))
        : verifyShardKeys(input, (keys) => recopyKeys(input.spec, input.shard, keys)),
    findExtraKeys: (spec: ClusterSpec, shards: Shard[], keys?: string[], remove?: boolean, live?: LiveSyncRef) =>
      findExtraKeys(spec, shards, keys, remove, live && settleOn(spec, live)),
    recopyKeys: (spec: ClusterSpec, shard: Shard, keys: string[]) => recopyKeys(spec, shard, keys),
    clearCheckpoints: (spec: ClusterSpec, shards: Shard[], firstRunId?: string) =>
      clearCheckpoints(spec, shards, ownerFromActivity(Context.current().info, firstRunId)),
    countTargetKeys: (spec: ClusterSpec) => countTargetKeys(spec),
    readSourceWriteStamps: (spec: ClusterSpec, shards: Shard[]) => readSourceWriteStamps(spec, shards),
    syncShardChunk: (input: SyncChunkInput) =>
      withWorker(
        migrationOf(input.spec).liveMethod === 'notifications' ? notificationsChunk(input) : syncShardChunk(input),
      ),
    readSyncOffsets: (spec: ClusterSpec, live: LiveSyncRef) => readSyncOffsets(spec, live.shards, live.syncId),
    pauseAndDrain: (spec: ClusterSpec, live: LiveSyncRef, pauseBudgetMs: number, writesStopped?: boolean) =>
      pauseAndDrain(spec, live.shards, live.syncId, pauseBudgetMs, writesStopped),
    clearSyncState: (spec: ClusterSpec, live: LiveSyncRef) => clearSyncState(spec, live.shards, live.syncId),
  };
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      wrapped(name, fn as (...args: unknown[]) => Promise<unknown>),
    ]),
  ) as typeof activities;
}

export type Activities = ReturnType<typeof createActivities>;
export type { ClusterReport, NodeReport } from '../cluster/report';
export type { FetchConfigsResult } from '../cluster/configs';
export type { DriftReport } from '../cluster/drift';
export type { StartMode, StartNodesResult } from '../cluster/nodes';
export type { FailoverPlan, FailoverRequest } from '../cluster/failover';
export type { RepairPlan } from '../cluster/repair';
export type { SlotMoveOptions, SlotMovesResult } from '../cluster/move-slots';
export type { CopyCounters, CopyMode } from '../migration/checkpoint';
export type { MigrationPlan } from '../migration/plan';
export type { Shard } from '../migration/sources';
export type { ExtraKeys } from '../migration/extra-keys';
export type { KeyDifference, ShardVerification } from '../migration/verify';
export type { LiveShard } from '../migration/sync/sync';
/** A sync chunk's result, with the worker that ran it. */
export type SyncChunkResult = EngineSyncChunkResult & { worker?: string };
export type { DrainResult, ShardOffsets } from '../migration/sync/cutover';
