/**
 * Rejoining a source that failed over. The promoted replica keeps the old replication id as its second one and
 * continues that stream up to where it was promoted (`second_repl_offset`). The old master may have gone on sending
 * past that point before it followed the new one: PINGs to its replicas and a Sentinel's hello messages (PUBLISH) are
 * in the stream too. A Redis replica of the old master would take a new snapshot. We know, per slot, the offset of
 * the last write applied (the slot checkpoints): when none lies past the promotion point, what we took past it held
 * no write, and the sync rejoins the new master at that point with a partial resync instead of a new snapshot.
 */
import type Redis from 'ioredis';
import { parseInfo } from '../../redis/cluster-nodes';
import type { SlotMap } from '../../redis/slot-map';
import { log } from '../../runtime/context';
import { type SyncCheckpoint, type SyncKeys, readSlotOffsets } from './checkpoints';

/**
 * The offset to continue from on `source`: the checkpoint's, or the promotion point when the checkpoint lies past it
 * and nothing written lies past it. Undefined when the source cannot continue this stream at all.
 */
export async function rejoinOffset(
  source: Redis,
  resume: SyncCheckpoint,
  map: SlotMap,
  keys: SyncKeys,
): Promise<number> {
  const info = parseInfo((await source.info('replication')) as string);
  if (info.master_replid2 !== resume.replid) return resume.offset;
  // PSYNC <replid2> <offset> is served for offsets up to second_repl_offset: the stream is continued from there.
  const promotedAt = Number(info.second_repl_offset ?? -1) - 1;
  if (promotedAt < 0 || resume.offset <= promotedAt) return resume.offset;
  const lastWrite = Math.max(-1, ...(await readSlotOffsets(map, keys, resume.replid)).values());
  if (lastWrite > promotedAt) return resume.offset; // a write the new master never took: only a new snapshot mends it
  log.info('rejoining the promoted master where it took over: what the old master sent past it held no write', {
    promotedAt,
    applied: resume.offset,
    lastWrite,
  });
  return promotedAt;
}
