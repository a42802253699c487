/**
 * The moveSlots step in bounded calls: each moves slots for a few seconds and stops taking new ones (every slot it
 * started is settled), so that pause, resume and the throttle act between calls, and `rco watch` shows slots done and
 * keys moved as they go. Each call decides from the live nodes, so a crash, a retry or a new run goes on with what is
 * left.
 */
import { condition } from '@temporalio/workflow';
import type { SlotMovesResult } from '../activities';
import type { SlotMovesProgress } from '../model/progress';
import type { ClusterSpec } from '../model/schema';
import { installControls } from './controls';
import { profiles } from './profiles';
import { summarizedActivities } from './activities';
import type { Run } from './run';

const slotMove = summarizedActivities(profiles.slotMove);

/** How long one moveSlots call takes new slots. */
const CHUNK_MS = 5000;

/**
 * The moves' progress, with pause, resume and throttle pointed at it from the run's start, so that a run can be
 * throttled or paused before its moves begin (the migration, later, points them at its own).
 */
export function slotMoveControls(run: Run): SlotMovesProgress {
  const progress: SlotMovesProgress = run.handedOver?.slotMoves ?? {
    paused: false,
    slotsDone: 0,
    slotsTotal: 0,
    keysMoved: 0,
    bigKeys: 0,
  };
  installControls(progress);
  run.progress.slotMoves = progress;
  return progress;
}

export async function moveSlotsInChunks(
  spec: ClusterSpec,
  progress: SlotMovesProgress,
  run: Run,
): Promise<SlotMovesResult> {
  // Counted on from what an earlier run of the chain moved (the moves' list starts again).
  const total: SlotMovesResult = {
    moves: [],
    slots: progress.slotsDone,
    keys: progress.keysMoved,
    bigKeys: progress.bigKeys,
    slotsLeft: 0,
  };
  for (;;) {
    await condition(() => !progress.paused);
    const chunk = await slotMove.moveSlots(spec, {
      budgetMs: CHUNK_MS,
      keysPerSecond: progress.keysPerSecond,
      ...(progress.atomicJob ? { following: progress.atomicJob } : {}),
    });
    // A server's job still running shows in the progress until a call sees it end.
    if (chunk.atomicRunning) progress.atomicJob = chunk.atomicRunning;
    else delete progress.atomicJob;
    for (const move of chunk.moves ?? []) {
      const same = total.moves.find((m) => m.from === move.from && m.to === move.to);
      if (!same) total.moves.push({ ...move });
      else {
        same.slots += move.slots;
        same.keys += move.keys;
        same.atomic ??= move.atomic;
      }
    }
    total.slots += chunk.slots ?? 0;
    total.keys += chunk.keys ?? 0;
    total.bigKeys += chunk.bigKeys ?? 0;
    if (chunk.bigKeysInPieces) total.bigKeysInPieces = (total.bigKeysInPieces ?? 0) + chunk.bigKeysInPieces;
    if (chunk.fallbacks?.length) total.fallbacks = [...(total.fallbacks ?? []), ...chunk.fallbacks];
    const atomic = (chunk.moves ?? []).filter((m) => m.atomic);
    if (atomic.length > 0) progress.atomicJobs = (progress.atomicJobs ?? 0) + atomic.length;
    if (chunk.fallbacks?.length) progress.fallbacks = total.fallbacks;
    // Runs recorded before calls were bounded have no slotsLeft: their one call moved everything.
    total.slotsLeft = chunk.slotsLeft ?? 0;
    Object.assign(progress, {
      slotsDone: total.slots,
      slotsTotal: total.slots + total.slotsLeft,
      keysMoved: total.keys,
      bigKeys: total.bigKeys,
    });
    if (total.slotsLeft === 0) return total;
    // The step stays pending in the next run, which goes on with the slots left.
    if (run.historyFull) await run.continueAsNew({ slotMoves: progress });
  }
}
