/**
 * Where a shard's copy stands and where that is kept: a checkpoint key in the target, written after every batch,
 * and heartbeated. A retry or a new worker resumes at the latest one, so a crash copies at most one batch again.
 */
import { Context, type Info } from '@temporalio/activity';
import type { ClusterSpec } from '../model';
import type { Shard } from './sources';
import { targetMap } from './target';

export interface CopyCounters {
  /** SCAN batches done: orders checkpoints, the later one wins. */
  batches: number;
  scanned: number;
  copied: number;
  skipped: number;
  failed: number;
  bigKeys: number;
  /** Keys rebuilt by type, their payloads being of an RDB version the target cannot restore. */
  rebuilt?: number;
  /** Hash field expirations left out (migration.dropHashFieldTtls), on a target without HEXPIRE. */
  fieldTtlsDropped?: number;
}

export const zeroCounters = (): CopyCounters => ({
  batches: 0,
  scanned: 0,
  copied: 0,
  skipped: 0,
  failed: 0,
  bigKeys: 0,
});

export type CopyMode = 'migrate' | 'dump-restore';

/**
 * Where a shard's copy stands. Opaque to the workflow: the SCAN cursor, the run_id of the source process it
 * belongs to, and whether this is a second scan. A restarted Redis hashes keys with a new random seed, so a cursor
 * from before the restart points at arbitrary buckets: resuming from it would silently skip keys.
 */
export interface ScanPosition {
  cursor: string;
  runId?: string;
  rescan: boolean;
}

export function parsePosition(text: string): ScanPosition {
  const [cursor = '0', runId, flag] = text.split(':');
  return { cursor, runId: runId || undefined, rescan: flag === 'rescan' };
}

export function formatPosition(position: ScanPosition): string {
  if (!position.runId) return position.cursor;
  return [position.cursor, position.runId, ...(position.rescan ? ['rescan'] : [])].join(':');
}

export interface Checkpoint {
  cursor: string;
  counters: CopyCounters;
  mode: CopyMode;
}

/** Which migration a checkpoint belongs to: the workflow id and the run the copy started in. */
export interface CheckpointOwner {
  workflowId: string;
  /** The first run of the workflow (stable across continue-as-new); earlier runs used their own run id. */
  runId: string;
}

/** The activity's own workflow and run, for callers that do not name the first run. */
export function ownerFromActivity(info: Pick<Info, 'workflowExecution'>, firstRunId?: string): CheckpointOwner {
  const { workflowId, runId } = info.workflowExecution ?? { workflowId: '-', runId: '-' };
  return { workflowId, runId: firstRunId ?? runId };
}

/** Where a shard's checkpoint lives in the target: one slot (hash tag) per workflow, removed when it verifies. */
export function checkpointKeyFor(owner: CheckpointOwner, shard: Pick<Shard, 'id'>): Buffer {
  return Buffer.from(`rco:checkpoint:{${owner.workflowId}}:${owner.runId}:${shard.id}`);
}

/**
 * Where to resume: the latest of what the workflow recorded, the last heartbeat (of an earlier attempt) and the
 * checkpoint stored in the target. Batches done orders them: each is written after the batch it counts.
 */
export function resumePoint(recorded: Checkpoint, heartbeat?: Checkpoint, stored?: Checkpoint): Checkpoint {
  return [heartbeat, stored].reduce<Checkpoint>(
    (best, c) => (c && c.counters.batches > best.counters.batches ? c : best),
    recorded,
  );
}

/**
 * The resume point of the running activity: an earlier attempt's last heartbeat counts only on a retry (the first
 * attempt of a new chunk has none of its own).
 */
export function resumePointOfActivity(recorded: Checkpoint, stored?: Checkpoint): Checkpoint {
  const { attempt, heartbeatDetails } = Context.current().info;
  return resumePoint(recorded, attempt > 1 ? (heartbeatDetails as Checkpoint | undefined) : undefined, stored);
}

/** Removes the migration's checkpoint keys from the target once every shard is copied. */
export async function clearCheckpoints(spec: ClusterSpec, shards: Shard[], owner: CheckpointOwner): Promise<number> {
  const map = targetMap(spec);
  try {
    await map.refresh();
    let removed = 0;
    for (const shard of shards) {
      const key = checkpointKeyFor(owner, shard);
      removed += await (await map.client(map.ownerOf(key))).del(key);
    }
    return removed;
  } finally {
    map.close();
  }
}
