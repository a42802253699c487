/**
 * Live mode: each source master is followed as a replica, in chunks of 10 s (the snapshot first, then the stream),
 * until a `cutover` update stops it. Pause, resume and throttle act between chunks; while paused, the lag is read every
 * 30 s and a warning shown when it nears the source's backlog. The run continues as new when Temporal suggests it:
 * where each shard stands is in the target, so only the progress is carried.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  condition,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { LiveShard, LiveSyncRef, MigrationPlan, ShardVerification, SyncChunkResult } from '../activities';
import { ErrorType } from '../model/errors';
import type { CutoverReport, CutoverRequest, MigrationProgress, SyncShardProgress } from '../model/progress';
import { type ClusterSpec, shardTaskQueue, workerShardQueue } from '../model/schema';
import { cutoverUpdate } from './messages';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import type { Run } from './run';

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
const control = summarizedActivities(profiles.cutover);

const CHUNK_MS = 10_000;
/** Warn when a paused sync's lag passes this share of the source's backlog. */
const BACKLOG_WARNING = 0.8;

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

/**
 * The source masters: one per master of the planned shards (a standalone source's databases share one stream), named
 * for good (a Sentinel source by its master name, which outlives a failover).
 */
function liveShardsOf(plan: MigrationPlan): LiveShard[] {
  const nodes = new Map<string, LiveShard>();
  for (const shard of plan.shards)
    if (shard.host && shard.port) {
      const id = shard.master ?? `${shard.host}:${shard.port}`;
      nodes.set(id, { id, host: shard.host, port: shard.port });
    }
  return [...nodes.values()];
}

const phaseOf = (sync: SyncShardProgress[]) =>
  sync.some((s) => s.phase === 'snapshot')
    ? 'snapshot'
    : sync.every((s) => s.phase === 'done')
      ? 'done'
      : sync[0]?.phase;

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
        return await cutOver(request);
      } finally {
        cutoverRunning = false;
        progress.phase = phaseOf(sync);
      }
    },
    {
      validator: (request: CutoverRequest) => {
        const budget = request?.pauseBudgetMs ?? 1000;
        if (!(budget >= 10 && budget <= 60_000)) throw new Error('pauseBudgetMs must be between 10 and 60000');
        if (request?.verify !== undefined && request.verify !== 'sample' && request.verify !== 'all')
          throw new Error('verify must be "sample" or "all"');
        if (request?.writesStopped !== undefined && typeof request.writesStopped !== 'boolean')
          throw new Error('writesStopped must be true or false');
        if (cutoverRunning) throw new Error('a cutover is already running');
        if (progress.paused) throw new Error('the sync is paused: resume it first');
        const loading = sync.filter((s) => s.phase !== 'streaming').map((s) => `${s.shard} is ${s.phase}`);
        if (loading.length > 0) throw new Error(`not every source is streaming yet (${loading.join(', ')})`);
      },
    },
  );

  async function cutOver(request: CutoverRequest): Promise<CutoverReport> {
    const all = request.verify === 'all';
    // Against the live mirror, first: differences are looked at again once the sync caught up.
    const verification = await Promise.all(
      plan.shards.map((shard) => planning.verifyShardKeys({ spec, shard, all, repairRounds: 0, live })),
    );
    const extra =
      all && plan.targetUserKeys === 0
        ? await planning.findExtraKeys(spec, plan.shards, undefined, false, live)
        : undefined;
    const differences = verification.flatMap((v) =>
      v.differences.map((d) => ({ shard: v.shard, key: d.printable, reason: d.reason })),
    );
    if (extra)
      differences.push(...extra.differences.map((d) => ({ shard: 'target', key: d.printable, reason: d.reason })));
    const found = verification.reduce((sum, v) => sum + v.differencesFound, 0) + (extra?.differencesFound ?? 0);
    const report: CutoverReport = {
      done: false,
      writePauseMs: 0,
      offsets: [],
      keysVerified: verification.reduce((sum, v) => sum + v.checked, 0) + (extra?.checked ?? 0),
      differences,
      differencesNotListed: found - differences.length,
    };
    if (found > 0) {
      failed = ApplicationFailure.create({
        type: ErrorType.DataVerifyFailed,
        message: `the cutover found ${found} key(s) that differ between the sources and the cluster, e.g. ${differences
          .slice(0, 3)
          .map((d) => `${d.key} (${d.reason})`)
          .join(', ')}; the sync was stopped without cutting over`,
        nonRetryable: true,
        details: [report],
      });
      throw failed;
    }
    const drained = await control.pauseAndDrain(spec, live, request.pauseBudgetMs ?? 1000, request.writesStopped);
    report.writePauseMs = drained.pausedMs;
    report.paused = drained.paused;
    report.guarantee = drained.guarantee;
    report.offsets = drained.offsets.map(({ shard, source, applied }) => ({ shard, source, applied }));
    if (!drained.reached) return { ...report, reason: drained.reason };
    await condition(() => sync.every((s) => s.phase === 'done'));
    report.done = true;
    done = { cutover: report, verification };
    return report;
  }

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
        if (offsets?.applied !== undefined) {
          entry.sourceOffset = offsets.source;
          entry.lagBytes = Math.max(0, offsets.source - offsets.applied);
          entry.backlogBytes = offsets.backlogBytes;
          entry.warning =
            entry.lagBytes > BACKLOG_WARNING * offsets.backlogBytes
              ? `paused ${entry.lagBytes} bytes behind, near the source's repl-backlog-size (${offsets.backlogBytes}): resume soon, or the sync will need a new snapshot`
              : undefined;
        }
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
      entry.replid = result.replid;
      entry.appliedOffset = result.offset;
      entry.sourceOffset = result.sourceOffset;
      entry.lagBytes = result.lagBytes;
      entry.lagSeconds = result.lagSeconds;
      entry.backlogBytes = result.backlogBytes;
      entry.streamedFrom = result.streamedFrom;
      entry.worker = result.worker;
      entry.pendingKeys = result.pendingKeys;
      entry.writesGoTo = result.writesGoTo;
      entry.opsApplied += result.ops;
      entry.opsPerSecond = Math.round(result.ops / Math.max(result.seconds, 0.001));
      entry.warning = result.writesGoTo
        ? `${result.streamedFrom} failed over: it is a replica now and ${result.writesGoTo} takes the writes; the sync goes on through it, and the cutover will hold ${result.writesGoTo}`
        : undefined;
      if (result.resync === 'full') {
        entry.fullResyncs++;
        entry.lastFullResync = result.reason;
        entry.snapshotKeys = result.snapshot?.keys;
        entry.snapshotWritten = result.snapshot?.written;
        entry.snapshotSeconds = result.snapshot?.seconds;
        entry.snapshotWaitSeconds = result.snapshot?.waitSeconds;
      } else entry.partialResyncs++;
      entry.phase = result.stopped ? 'done' : entry.phase === 'cutover' ? 'cutover' : 'streaming';
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
