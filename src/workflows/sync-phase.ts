/**
 * Live mode: each source master is followed as a replica, in chunks of 10 s (the snapshot first, then the stream),
 * until a `cutover` update stops it. Pause, resume and throttle act between chunks; while paused, the lag is read every
 * 30 s and a warning shown when it nears the source's backlog. The run continues as new when Temporal suggests it:
 * where each shard stands is in the target, so only the progress is carried.
 */
import {
  ActivityFailure,
  type ApplicationFailure,
  TimeoutFailure,
  condition,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { LiveSyncRef, MigrationPlan, ShardVerification, SyncChunkResult } from '../activities';
import type { CutoverReport, CutoverRequest, MigrationProgress } from '../model/progress';
import { type ClusterSpec, shardTaskQueue, workerShardQueue } from '../model/schema';
import { cutoverUpdate } from './messages';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import type { Run } from './run';
import { cutOver, refuseCutover } from './sync-cutover';
import { liveShardsOf, phaseOf, recordChunk, recordPausedLag } from './sync-progress';

const planning = summarizedActivities(profiles.migrationCheck);
/**
 * The sync chunks go to the data-plane queue, where every worker takes as many shards as it was told it may; or to one
 * worker's own queue, for a notifications sync whose subscription it holds. A worker that does not take it there in
 * time (gone, or full) leaves it to the shared queue again: a new subscription and a full pass, as after any gap.
 */
const syncing = (worker?: string) =>
  summarizedActivities(
    worker
      ? {
          ...profiles.syncChunk,
          taskQueue: workerShardQueue(workflowInfo().taskQueue, worker),
          scheduleToStartTimeout: STICKY_PICKUP,
        }
      : { ...profiles.syncChunk, taskQueue: shardTaskQueue(workflowInfo().taskQueue) },
  );
/** How long a notifications chunk waits for the worker that holds its subscription. */
const STICKY_PICKUP = '15 seconds';

const notTakenInTime = (err: unknown) =>
  err instanceof ActivityFailure &&
  err.cause instanceof TimeoutFailure &&
  err.cause.timeoutType === 'SCHEDULE_TO_START';

const CHUNK_MS = 10_000;

/** What the next run needs to go on syncing. */
export interface CarriedSync {
  plan: MigrationPlan;
  migration: MigrationProgress;
}

export interface SyncedData {
  plan: MigrationPlan;
  cutover: CutoverReport;
  verification: ShardVerification[];
}

export async function syncData(spec: ClusterSpec, run: Run, progress: MigrationProgress): Promise<SyncedData> {
  const carried = run.handedOver?.sync;
  const plan = carried?.plan ?? (await planning.planMigration(spec));
  progress.servers = plan.servers;
  const shards = liveShardsOf(plan);
  const live: LiveSyncRef = { syncId: `${workflowInfo().workflowId}:${workflowInfo().firstExecutionRunId}`, shards };
  progress.mode = 'live';
  progress.sync ??= shards.map((s) => ({
    shard: s.id,
    phase: 'snapshot',
    opsApplied: 0,
    fullResyncs: 0,
    partialResyncs: 0,
  }));
  progress.phase = phaseOf(progress.sync);
  const sync = progress.sync;

  let suspending = false;
  let cutoverRunning = false;
  /** Set by a cutover that found differences: the loops end and the run fails. */
  let failed: ApplicationFailure | undefined;
  let done: { cutover: CutoverReport; verification: ShardVerification[] } | undefined;

  setHandler(
    cutoverUpdate,
    async (request: CutoverRequest): Promise<CutoverReport> => {
      cutoverRunning = true;
      progress.phase = 'cutover';
      try {
        const outcome = await cutOver(spec, plan, live, request, sync);
        if (outcome.failure) throw (failed = outcome.failure);
        if (outcome.verification) done = { cutover: outcome.report, verification: outcome.verification };
        return outcome.report;
      } finally {
        cutoverRunning = false;
        progress.phase = phaseOf(sync);
      }
    },
    { validator: (request: CutoverRequest) => refuseCutover(request, { cutoverRunning, progress }) },
  );

  // A notifications sync's subscription lives in the worker that made it: its next chunk goes to that worker.
  const sticky = spec.migration?.liveMethod === 'notifications';
  const follow = async (index: number) => {
    const shard = shards[index]!;
    const entry = sync[index]!;
    let holder = sticky ? entry.worker : undefined;
    for (;;) {
      if (failed) return;
      while (progress.paused && !suspending) {
        if (await condition(() => !progress.paused || suspending || failed !== undefined, '30 seconds')) break;
        const [offsets] = await planning.readSyncOffsets(spec, { ...live, shards: [shard] });
        recordPausedLag(entry, offsets);
        if (run.historyFull && !cutoverRunning) suspending = true;
      }
      if (suspending || failed) return;
      let result: SyncChunkResult;
      try {
        result = await syncing(holder).syncShardChunk({
          spec,
          shard,
          syncId: live.syncId,
          maxMs: CHUNK_MS,
          opsPerSecond: progress.keysPerSecond ? progress.keysPerSecond / shards.length : undefined,
          ownTarget: plan.targetUserKeys === 0,
        });
      } catch (err) {
        if (!holder || !notTakenInTime(err)) throw err;
        holder = undefined;
        continue;
      }
      if (sticky) holder = result.worker;
      recordChunk(entry, result);
      progress.phase = cutoverRunning ? 'cutover' : phaseOf(sync);
      if (result.stopped) return;
      if (run.historyFull && !cutoverRunning) suspending = true;
      if (suspending) return;
    }
  };
  await Promise.all(shards.map((_, i) => follow(i)));
  if (failed) throw failed;
  if (suspending) await run.continueAsNew({ sync: { plan, migration: progress } });
  await condition(() => done !== undefined);
  await planning.clearSyncState(spec, live);
  return { plan, ...done! };
}
