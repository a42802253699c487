/**
 * The snapshot copy: plan, then every shard in parallel in bounded chunks (so that pause, resume and the throttle
 * take effect within seconds and each chunk's cursor is recorded). When Temporal suggests it, the run continues as
 * new between chunks, carrying each shard's cursor, counters and progress, and the pause and throttle in force.
 */
import { condition, workflowInfo } from '@temporalio/workflow';
import type { CopyCounters, CopyMode, MigrationPlan, Shard } from '../activities';
import type { MigrationProgress, ShardProgress } from '../model/progress';
import { type ClusterSpec, shardTaskQueue } from '../model/schema';
import { installControls } from './controls';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import type { Run } from './run';
import type { CopiedData } from './verify-phase';

const planning = summarizedActivities(profiles.migrationCheck);
/** The copy chunks go to the data-plane queue, where every worker takes as many shards as it was told it may. */
const copying = () =>
  summarizedActivities({ ...profiles.migrationChunk, taskQueue: shardTaskQueue(workflowInfo().taskQueue) });

/** How long one copy activity runs before it hands its cursor back. */
const CHUNK_MS = 5000;

interface ShardCursor {
  shard: Shard;
  cursor: string;
  counters: CopyCounters;
  mode: CopyMode;
  done: boolean;
  /** Workflow time the shard started, for its rate across runs. */
  startedAt: number;
}

/** What the next run needs to go on copying. */
export interface CarriedCopy {
  plan: MigrationPlan;
  cursors: ShardCursor[];
  failedKeys: Record<string, string[]>;
  migration: MigrationProgress;
}

/** Installs the pause/resume/throttle handlers and returns the progress object they change. */
export function migrationControls(spec: ClusterSpec, carried?: MigrationProgress): MigrationProgress {
  const progress: MigrationProgress = carried ?? {
    paused: false,
    keysPerSecond: spec.migration?.keysPerSecond,
    shards: [],
  };
  installControls(progress);
  return progress;
}

const zero: CopyCounters = { batches: 0, scanned: 0, copied: 0, skipped: 0, failed: 0, bigKeys: 0 };

export async function copyData(spec: ClusterSpec, run: Run, progress: MigrationProgress): Promise<CopiedData> {
  const migration = spec.migration!;
  const carried = run.handedOver?.copy;
  const plan = carried?.plan ?? (await planning.planMigration(spec));
  progress.servers = plan.servers;
  const failedKeys = carried?.failedKeys ?? {};
  const cursors: ShardCursor[] = carried?.cursors ?? [];
  // Set when the history is full: each shard stops after its chunk, then the run continues as new.
  let suspending = false;

  const copyShard = async (index: number, planned: Shard) => {
    let state = cursors[index];
    if (!state) {
      const shard = planned.rdbObject ? await planning.prepareRdbShard(spec, planned) : planned;
      state = {
        shard,
        cursor: '0',
        counters: zero,
        mode: migration.copyMode === 'dump-restore' ? 'dump-restore' : 'migrate',
        done: false,
        startedAt: Date.now(),
      };
      cursors[index] = state;
      progress.shards[index] = {
        shard: shard.id,
        keysTotal: shard.keys,
        scanned: 0,
        copied: 0,
        skipped: 0,
        failed: 0,
        bigKeys: 0,
        mode: state.mode,
        rate: 0,
        done: false,
      };
    }
    const entry: ShardProgress = progress.shards[index]!;
    while (!state.done) {
      await condition(() => !progress.paused || suspending);
      if (suspending) return;
      const result = await copying().copyShardChunk({
        spec,
        shard: state.shard,
        cursor: state.cursor,
        counters: state.counters,
        mode: state.mode,
        keysPerSecond: progress.keysPerSecond ? progress.keysPerSecond / plan.shards.length : undefined,
        maxMs: CHUNK_MS,
        firstRunId: workflowInfo().firstExecutionRunId,
      });
      Object.assign(state, { cursor: result.cursor, counters: result.counters, mode: result.mode, done: result.done });
      const { batches: _batches, ...shown } = result.counters;
      Object.assign(entry, shown, { mode: result.mode, done: result.done, worker: result.worker });
      failedKeys[state.shard.id] = [...(failedKeys[state.shard.id] ?? []), ...result.failedKeys].slice(0, 100);
      const seconds = Math.max((Date.now() - state.startedAt) / 1000, 0.001);
      entry.rate = Math.round(result.counters.scanned / seconds);
      entry.etaSeconds =
        entry.keysTotal > 0 && entry.rate > 0
          ? Math.max(0, Math.round((entry.keysTotal - result.counters.scanned) / entry.rate))
          : undefined;
      if (!state.done && run.historyFull) suspending = true;
    }
  };
  await Promise.all(plan.shards.map((planned, i) => copyShard(i, planned)));
  if (suspending) await run.continueAsNew({ copy: { plan, cursors, failedKeys, migration: progress } });
  return { plan, shards: cursors.map((c) => c.shard), failedKeys };
}
