/**
 * A source that fails its own snapshot for us closes the link part way through, and does so again on every retry: a
 * Valkey 9 primary that cannot store a key in the RDB version it chose, or a replica output buffer that passes
 * `client-output-buffer-limit replica` while the snapshot loads. Retrying forks the source for a full snapshot each
 * time, for nothing. So each cut is kept in the target: a second cut in a row, by the same source process (same
 * run_id: it did not restart), stops the sync once, saying where both happened and what the source's counters show.
 */
import type Redis from 'ioredis';
import { ErrorType } from '../../model';
import { parseInfo } from '../../redis/cluster-nodes';
import { printableKey } from '../../redis/compare';
import type { SlotMap } from '../../redis/slot-map';
import { fail, log } from '../../runtime/context';
import type { SyncKeys } from './checkpoints';
import type { SnapshotPosition } from './snapshot';

interface Cut {
  runId: string;
  keys: number;
  lastKey?: string;
  /** client_output_buffer_limit_disconnections (Redis 7.2+, Valkey), when the source reports it. */
  bufferDrops?: number;
}

const where = (cut: Cut) =>
  cut.lastKey === undefined ? 'before its first key' : `after ${cut.keys} keys, the last one ${cut.lastKey}`;

async function readCut(source: Redis, position: SnapshotPosition): Promise<Cut> {
  const info = parseInfo((await source.info()) as string);
  const drops = info.client_output_buffer_limit_disconnections;
  return {
    runId: info.run_id ?? '',
    keys: position.keys,
    lastKey: position.lastKey && printableKey(position.lastKey),
    bufferDrops: drops === undefined ? undefined : Number(drops),
  };
}

/** Records a snapshot the source cut off at `position`; fails for good when the one before was cut off too. */
export async function snapshotCutOff(
  map: SlotMap,
  keys: SyncKeys,
  source: { name: string; client: Redis },
  position: SnapshotPosition,
  cause: Error,
): Promise<never> {
  const owner = await map.client(map.ownerOf(keys.snapshotCut));
  const stored = await owner.get(keys.snapshotCut);
  const before = stored ? (JSON.parse(stored) as Cut) : undefined;
  const now = await readCut(source.client, position);
  if (before && before.runId === now.runId) {
    const dropped =
      before.bufferDrops !== undefined && now.bufferDrops !== undefined && now.bufferDrops > before.bufferDrops;
    fail(
      ErrorType.SourceCannotReplicate,
      `migration source ${source.name} closed the link twice in a row before the end of the snapshot it sends a replica (${where(before)}, then ${where(now)}); the sync stopped instead of forking the source for a snapshot again. ${
        dropped
          ? 'Its client_output_buffer_limit_disconnections went up: it dropped us when the writes held for us passed client-output-buffer-limit replica; raise that limit on the source'
          : 'It fails that snapshot itself (or drops us without counting it), and its log says why; mend what the log names, or copy with "mode": "snapshot"'
      }`,
    );
  }
  await owner.set(keys.snapshotCut, JSON.stringify(now), 'EX', 24 * 3600);
  log.warn('the source cut its snapshot off; trying once more', { source: source.name, at: where(now) });
  throw cause;
}

/** A snapshot that loaded whole ends the count. */
export async function snapshotLoaded(map: SlotMap, keys: SyncKeys): Promise<void> {
  await (await map.client(map.ownerOf(keys.snapshotCut))).del(keys.snapshotCut);
}
