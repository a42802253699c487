/**
 * One chunk of a live sync of one source master: connect as a replica, resume from the checkpoints in the target
 * (PSYNC <replid> <offset+1>) or take a new snapshot when the source cannot continue (and say why), then apply the
 * stream for a bounded time, acknowledging the offset applied. The workflow runs chunk after chunk.
 */
import { type ClusterSpec, ErrorType, replicaVersionFor } from '../../model';
import { capabilitiesOf } from '../../redis/servers';
import { ReplyError } from '../../redis/bulk';
import type { SlotMap } from '../../redis/slot-map';
import { cancelled, fail, heartbeat, log, sleep, withHeartbeat } from '../../runtime/context';
import { type LiveShard, addressText, replicationOffsetOf, roleOf, streamNodeOf, writerOf } from '../source-master';
import { refusedReplication } from '../source-preflight';
import { connectSource, databaseDestinationBytes, migrationOf, sourceAccess } from '../sources';
import { targetMap } from '../target';
import { StreamApplier } from './apply';
import { SyncRefused } from './refused';
import { RdbError } from './rdb-encoding';
import {
  type SyncKeys,
  appliedEverywhere,
  listeningPortFor,
  readCheckpoints,
  readSlotOffsets,
  readStop,
  syncKeys,
  writeCheckpoints,
} from './checkpoints';
import { type CommandTable, commandTable } from './commands';
import { checkGeneration, loadFenceScripts, stampEverySlot, takeGeneration } from './fence';
import { LinkRefused, ReplicaLink } from './link';
import { removeKeysNotWritten, shardSlots } from './resync';
import { rejoinOffset } from './rejoin';
import { type SnapshotPosition, loadSnapshot } from './snapshot';
import { snapshotCutOff, snapshotLoaded } from './snapshot-cuts';
import { ReplicationStream } from './stream';

export type { LiveShard } from '../source-master';

export interface SyncChunkInput {
  spec: ClusterSpec;
  shard: LiveShard;
  /** The migration: its checkpoints are keyed by it (the workflow id and its first run). */
  syncId: string;
  maxMs: number;
  opsPerSecond?: number;
  /** The target held no data of its own: after a new snapshot, keys it no longer has are ours to remove. */
  ownTarget: boolean;
}

export interface SyncChunkResult {
  replid: string;
  /** The offset applied in the cluster. */
  offset: number;
  /** The source's offset when the chunk ended. */
  sourceOffset: number;
  lagBytes: number;
  lagSeconds: number;
  /** The source's repl-backlog-size: a paused sync must not fall further behind than this. */
  backlogBytes: number;
  ops: number;
  seconds: number;
  /** How this chunk joined the stream. */
  resync: 'partial' | 'full';
  /** Why it took a new snapshot (full). */
  reason?: string;
  /** The snapshot taken: keys loaded, how long the source took to start sending it, and to load it. */
  snapshot?: {
    keys: number;
    expired: number;
    removed: number;
    waitSeconds: number;
    seconds: number;
    /** Hash field expirations left out (migration.dropHashFieldTtls). */
    fieldTtlsDropped?: number;
    /** The notifications method's pass after a gap: keys written, of the `keys` read (the others were equal). */
    written?: number;
  };
  /** The cutover's stop marker was reached: the sync is over. */
  stopped: boolean;
  /** The node the stream was read from. */
  streamedFrom?: string;
  /** That node is a replica now (its master failed over): the node that takes the writes. */
  writesGoTo?: string;
  /** The notifications method: keys notified and waiting to be copied when the chunk ended. */
  pendingKeys?: number;
}

async function loadCommandTable(map: SlotMap): Promise<CommandTable> {
  return commandTable((await (await map.client(map.masters()[0]!)).call('COMMAND')) as unknown[]);
}

export async function syncShardChunk(input: SyncChunkInput): Promise<SyncChunkResult> {
  const { spec, shard, syncId } = input;
  const started = Date.now();
  const map = targetMap(spec);
  const node = await streamNodeOf(spec, shard);
  const side = await connectSource(spec, node.host, node.port);
  let link: ReplicaLink | undefined;
  try {
    // A Sentinel names a master only once it is promoted; until then (a failover under way) the next attempt asks again.
    const role = await roleOf(side);
    if (!role.master && migrationOf(spec).source.type === 'sentinel')
      throw new Error(`the Sentinels name ${addressText(node)} as master ${shard.id}, but it is still a replica`);
    const writesGoTo = role.master ? undefined : addressText(await writerOf(spec, node));
    if (writesGoTo)
      log.warn('the source master is a replica now: the writes go elsewhere', { shard: shard.id, writesGoTo });
    await map.refresh();
    const keys: SyncKeys = syncKeys(map, syncId, shard.id);
    await loadFenceScripts(map);
    // From here an older attempt still running (one Temporal gave up on) can no longer write (fence.ts).
    const generation = await takeGeneration(map, keys);
    const checkpoints = await readCheckpoints(map, keys);
    const resume = appliedEverywhere(checkpoints);
    const destinations = databaseDestinationBytes(spec);
    const table = await loadCommandTable(map);

    const access = sourceAccess(spec);
    link = await ReplicaLink.open(node.host, node.port, { tls: access.tls });
    let psync;
    try {
      await link.handshake(
        access.auth,
        listeningPortFor(syncId, shard.id),
        replicaVersionFor(await capabilitiesOf(side)),
      );
      if (resume) resume.offset = await rejoinOffset(side, resume, map, keys);
      psync = await link.psync(resume?.replid ?? '?', resume ? resume.offset + 1 : -1);
    } catch (err) {
      if (err instanceof LinkRefused) refusedReplication(shard.id, err.message);
      throw err;
    }
    let replid: string;
    let offset: number;
    let reason: string | undefined;
    let snapshot: SyncChunkResult['snapshot'];
    let head: Buffer = Buffer.alloc(0);
    let db = resume?.db ?? 0;
    if (psync.kind === 'full') {
      const anyCheckpoint = [...checkpoints.values()].some(Boolean);
      reason = !anyCheckpoint
        ? 'first sync'
        : !resume
          ? 'the previous snapshot was not loaded completely'
          : psync.replid !== resume.replid
            ? `the source has a new replication id (${psync.replid}, was ${resume.replid}): it restarted or failed over`
            : `offset ${resume.offset + 1} is no longer in the source's backlog`;
      if (anyCheckpoint) log.warn('full resync of the live sync', { shard: shard.id, reason });
      ({ replid, offset } = psync);
      // Marked first: a crash while loading makes the next chunk take a snapshot again, never continue on half of one.
      await writeCheckpoints(map, keys, { replid, offset, phase: 'snapshot', generation });
      await stampEverySlot(map, keys, replid, offset, generation);
      const asked = Date.now();
      // The source may wait before it sends (repl-diskless-sync-delay, or a BGSAVE to disk): not loading time.
      // The source may close the link before the snapshot's first byte (it failed at once) or part way: a cut.
      const position: SnapshotPosition = { keys: 0 };
      const cutOff = (err: Error): Promise<never> =>
        link!.closedBy && !(err instanceof SyncRefused || err instanceof RdbError)
          ? snapshotCutOff(map, keys, { name: addressText(node), client: side }, position, err)
          : Promise.reject(err);
      const framing = await withHeartbeat(
        () => link!.rdbFraming(),
        () => ({ phase: 'snapshot', waiting: true }),
      ).catch(cutOff);
      const loadStarted = Date.now();
      const loaded = await loadSnapshot(link, framing, map, {
        destinations,
        collectKeys: anyCheckpoint && input.ownTarget,
        dropHashFieldTtls: spec.migration?.dropHashFieldTtls,
        bigKeyBytes: migrationOf(spec).bigKeyBytes,
        // RESTORE is not fenced in the node: each batch first makes sure no newer attempt started.
        beforeBatch: () => checkGeneration(map, keys, generation),
        position,
      }).catch(cutOff);
      await snapshotLoaded(map, keys);
      let removed = 0;
      if (loaded.written) {
        const slots = shardSlots(spec, await side.call('CLUSTER', 'NODES').catch(() => undefined));
        removed = await removeKeysNotWritten(map, loaded.written, destinations, slots);
      }
      db = loaded.streamDb;
      await writeCheckpoints(map, keys, { replid, offset, phase: 'streaming', db, generation });
      snapshot = {
        keys: loaded.keys,
        expired: loaded.expired,
        removed,
        waitSeconds: (loadStarted - asked) / 1000,
        seconds: (Date.now() - loadStarted) / 1000,
        fieldTtlsDropped: loaded.fieldTtlsDropped || undefined,
      };
      log.info('snapshot loaded', { shard: shard.id, ...snapshot, rdbVersion: loaded.rdbVersion });
      head = loaded.rest;
    } else {
      replid = psync.replid ?? resume!.replid;
      offset = resume!.offset;
    }

    // The stream, from `offset`; each slot skips what it already holds (a batch cut off by a crash).
    const slotOffsets = psync.kind === 'full' ? new Map<number, number>() : await readSlotOffsets(map, keys, replid);
    const applier = new StreamApplier({ map, table, destinations, replid, keys, slotOffsets, generation }, offset, db);
    const stream = new ReplicationStream(offset);
    let applied = offset;
    let stopped = false;
    let opsBefore = 0;
    let lastAck = 0;
    const apply = async (chunk: Buffer) => {
      try {
        applier.add(stream.push(chunk));
      } catch (err) {
        if (err instanceof SyncRefused)
          fail(
            ErrorType.SyncStopped,
            `live sync of ${shard.id} stopped: ${err.message}; the cluster was left as it was`,
          );
        throw err;
      }
    };
    if (head.length > 0) await apply(head);
    for (;;) {
      // Temporal gave up on this attempt (it says so in the answer to a heartbeat): a newer one is taking over.
      if (cancelled())
        throw new Error(`live sync of ${shard.id}: this attempt was cancelled (generation ${generation})`);
      const stop = await readStop(map, keys);
      if (stop !== undefined && applied >= stop) {
        stopped = true;
        break;
      }
      if (applier.position > applied && (stop === undefined || applier.position <= stop)) {
        applied = await applier.flush();
        link.ack(applied);
        lastAck = Date.now();
        applier.ackWanted = false;
      } else if (stop !== undefined && applier.position > stop) {
        // Writes after the cutover point: not ours to apply.
        stopped = true;
        break;
      }
      if (Date.now() - started >= input.maxMs) {
        // Never end far behind: the next chunk continues from the source's backlog, which must still hold the offset.
        const source = await replicationOffsetOf(side);
        const behind = source.offset - applied;
        if (behind <= source.backlog / 4 || Date.now() - started >= 5 * input.maxMs) break;
      }
      if (input.opsPerSecond) {
        const elapsed = (Date.now() - started) / 1000;
        const ahead = applier.applied / input.opsPerSecond - elapsed;
        if (ahead > 0) await sleep(Math.min(ahead * 1000, 1000));
      }
      if (Date.now() - lastAck >= 1000 || applier.ackWanted) {
        link.ack(applied);
        lastAck = Date.now();
        applier.ackWanted = false;
        heartbeat({ applied, ops: applier.applied - opsBefore });
        opsBefore = applier.applied;
      }
      // Gather what is there (up to a few MB) before the next flush: fewer, larger transactions.
      const chunk = await link.next(Math.max(1, Math.min(200, input.maxMs - (Date.now() - started))));
      if (chunk) {
        await apply(chunk);
        for (let more = 0; more < 64 && applier.pendingOps < 5000; more++) {
          const next = await link.next(0);
          if (!next) break;
          await apply(next);
        }
      }
    }
    link.ack(applied);
    const source = await replicationOffsetOf(side);
    const seconds = (Date.now() - started) / 1000;
    const lagBytes = Math.max(0, source.offset - applied);
    const rate = applier.applied > 0 ? (stream.position - offset) / Math.max(seconds, 0.001) : 0;
    return {
      replid,
      offset: applied,
      sourceOffset: source.offset,
      lagBytes,
      lagSeconds: lagBytes === 0 ? 0 : rate > 0 ? Math.round((lagBytes / rate) * 10) / 10 : seconds,
      backlogBytes: source.backlog,
      ops: applier.applied,
      seconds,
      resync: psync.kind === 'full' ? 'full' : 'partial',
      reason,
      snapshot,
      stopped,
      streamedFrom: addressText(node),
      writesGoTo,
    };
  } catch (err) {
    // What the cluster cannot take stays so on every retry: one failure, not a fork and full sync of the source each time.
    if (err instanceof SyncRefused || err instanceof RdbError)
      fail(ErrorType.SyncStopped, `live sync of ${shard.id} stopped: ${err.message}; the cluster was left as it was`);
    if (err instanceof ReplyError && /NOAUTH|WRONGPASS/.test(err.message))
      fail(ErrorType.SourceAuthFailed, `migration source ${shard.id} refused the credentials: ${err.message}`);
    throw err;
  } finally {
    link?.close();
    side.disconnect();
    map.close();
  }
}
