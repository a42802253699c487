/**
 * A live sync's progress, pure: the source masters a plan gives, the sync's phase from its shards', and what one
 * chunk's result changes in its shard's entry.
 */
import type { LiveShard, MigrationPlan, ShardOffsets, SyncChunkResult } from '../activities';
import type { SyncShardProgress } from '../model/progress';

/**
 * The source masters: one per master of the planned shards (a standalone source's databases share one stream), named
 * for good (a Sentinel source by its master name, which outlives a failover).
 */
export function liveShardsOf(plan: MigrationPlan): LiveShard[] {
  const nodes = new Map<string, LiveShard>();
  for (const shard of plan.shards)
    if (shard.host && shard.port) {
      const id = shard.master ?? `${shard.host}:${shard.port}`;
      nodes.set(id, { id, host: shard.host, port: shard.port });
    }
  return [...nodes.values()];
}

export const phaseOf = (sync: SyncShardProgress[]) =>
  sync.some((s) => s.phase === 'snapshot')
    ? 'snapshot'
    : sync.every((s) => s.phase === 'done')
      ? 'done'
      : sync[0]?.phase;

/** What a chunk of a shard's sync did, into its progress entry, its phase included. */
export function recordChunk(entry: SyncShardProgress, result: SyncChunkResult): void {
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
}

/** Warn when a paused sync's lag passes this share of the source's backlog. */
const BACKLOG_WARNING = 0.8;

/** A paused shard's lag, read while it waits: a warning when it nears the source's backlog. */
export function recordPausedLag(entry: SyncShardProgress, offsets: ShardOffsets | undefined): void {
  if (offsets?.applied === undefined) return;
  entry.sourceOffset = offsets.source;
  entry.lagBytes = Math.max(0, offsets.source - offsets.applied);
  entry.backlogBytes = offsets.backlogBytes;
  entry.warning =
    entry.lagBytes > BACKLOG_WARNING * offsets.backlogBytes
      ? `paused ${entry.lagBytes} bytes behind, near the source's repl-backlog-size (${offsets.backlogBytes}): resume soon, or the sync will need a new snapshot`
      : undefined;
}
