/**
 * Where a live sync keeps its state in the target, per source master (shard):
 * - per slot, a checkpoint key in that very slot (`replid offset generation`), set by the script that applies stream
 *   commands to the slot: after a crash, what a slot holds is known exactly, so nothing is applied twice;
 * - per target master, the offset applied on all of it, set after each batch: where a resumed sync starts, and what
 *   the cutover waits for;
 * - one stop marker, which the cutover sets;
 * - the generation of the newest attempt (fence.ts).
 */
import calculateSlot from 'cluster-key-slot';
import { createHash } from 'node:crypto';
import { SLOT_COUNT } from '../../model';
import type { SlotMap } from '../../redis/slot-map';
import { setIfCurrent } from './fence';

/** What a master holds of the stream. */
export interface SyncCheckpoint {
  replid: string;
  offset: number;
  /** snapshot: a snapshot is being loaded (a crash means loading it again); streaming: the stream is applied. */
  phase: 'snapshot' | 'streaming';
  /** The source database the stream is in at `offset` (its last SELECT before it): where commands after it go. */
  db?: number;
  /** The attempt that set it (fence.ts). */
  generation?: number;
}

let tagsBySlot: string[] | undefined;

/** A short hash tag for every slot: a key `{tag}...` lives in that slot. */
export function slotTag(slot: number): string {
  if (!tagsBySlot) {
    const tags = new Array<string>(SLOT_COUNT);
    let found = 0;
    for (let i = 0; found < SLOT_COUNT; i++) {
      const tag = i.toString(36);
      const s = calculateSlot(tag);
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    tagsBySlot = tags;
  }
  return tagsBySlot[slot]!;
}

export interface SyncKeys {
  /** The checkpoint of one slot (in that slot). */
  slot: (slot: number) => Buffer;
  /** The offset applied on all of one master (in a slot it owns). */
  master: (owner: string) => Buffer;
  stop: Buffer;
  /** The newest attempt's generation (fence.ts). */
  generation: Buffer;
  /** Where the source last cut its snapshot off (snapshot-cuts.ts). */
  snapshotCut: Buffer;
  /** The notifications method: its state, and the drain asked for and answered (src/migration/notify). */
  notify: Buffer;
  drainAsked: Buffer;
  drained: Buffer;
}

export function syncKeys(map: SlotMap, syncId: string, shardId: string): SyncKeys {
  const base = `${syncId}:${shardId}`;
  const firstSlotOf = (owner: string) => {
    for (let slot = 0; slot < SLOT_COUNT; slot++) if (map.ownerOfSlot(slot) === owner) return slot;
    throw new Error(`${owner} owns no slot`);
  };
  const masterTags = new Map<string, string>();
  return {
    slot: (slot) => Buffer.from(`rco:sync:{${slotTag(slot)}}:${base}`),
    master: (owner) => {
      let tag = masterTags.get(owner);
      if (!tag) masterTags.set(owner, (tag = slotTag(firstSlotOf(owner))));
      return Buffer.from(`rco:sync:{${tag}}:${base}:applied`);
    },
    stop: Buffer.from(`rco:sync:{${slotTag(0)}}:${base}:stop`),
    generation: Buffer.from(`rco:sync:{${slotTag(0)}}:${base}:generation`),
    snapshotCut: Buffer.from(`rco:sync:{${slotTag(0)}}:${base}:snapshot-cut`),
    notify: Buffer.from(`rco:sync:{${slotTag(0)}}:${base}:notify`),
    drainAsked: Buffer.from(`rco:sync:{${slotTag(0)}}:${base}:drain-asked`),
    drained: Buffer.from(`rco:sync:{${slotTag(0)}}:${base}:drained`),
  };
}

/** Each master's checkpoint for the shard (undefined where it has none). */
export async function readCheckpoints(map: SlotMap, keys: SyncKeys): Promise<Map<string, SyncCheckpoint | undefined>> {
  const owners = map.masters();
  const values = await Promise.all(owners.map(async (owner) => (await map.client(owner)).get(keys.master(owner))));
  return new Map(owners.map((owner, i) => [owner, values[i] ? (JSON.parse(values[i]!) as SyncCheckpoint) : undefined]));
}

/** Sets every master's checkpoint, unless a newer attempt set it (then Superseded). */
export async function writeCheckpoints(
  map: SlotMap,
  keys: SyncKeys,
  checkpoint: SyncCheckpoint & { generation: number },
): Promise<void> {
  const value = JSON.stringify(checkpoint);
  await Promise.all(
    map.masters().map((owner) => setIfCurrent(map, owner, keys.master(owner), value, checkpoint.generation)),
  );
}

/** Each slot's offset in the stream of `replid` (slots without a checkpoint of that stream are left out). */
export async function readSlotOffsets(map: SlotMap, keys: SyncKeys, replid: string): Promise<Map<number, number>> {
  const offsets = new Map<number, number>();
  const slots = Array.from({ length: SLOT_COUNT }, (_, slot) => slot);
  await Promise.all(
    map.masters().map(async (owner) => {
      const own = slots.filter((slot) => map.ownerOfSlot(slot) === owner);
      const connection = await map.bulk(owner);
      // One GET per slot (each key is in its own slot), in one round trip per owner.
      const values = await connection.execOrThrow(
        own.map((slot) => ['GET', keys.slot(slot)]),
        'reading the slot checkpoints',
      );
      (values as (Buffer | null)[]).forEach((value, n) => {
        const [id, offset] = value?.toString().split(' ') ?? [];
        if (id === replid) offsets.set(own[n]!, Number(offset));
      });
    }),
  );
  return offsets;
}

/** The offset up to which every master holds the shard's stream; undefined before a snapshot is loaded. */
export function appliedEverywhere(checkpoints: Map<string, SyncCheckpoint | undefined>): SyncCheckpoint | undefined {
  const all = [...checkpoints.values()];
  if (all.length === 0 || all.some((c) => !c || c.phase !== 'streaming' || c.replid !== all[0]!.replid))
    return undefined;
  return all.reduce((min, c) => (c!.offset < min!.offset ? c : min))!;
}

export async function readStop(map: SlotMap, keys: SyncKeys): Promise<number | undefined> {
  const value = await (await map.client(map.ownerOf(keys.stop))).get(keys.stop);
  return value === null ? undefined : Number(value);
}

/** Removes the sync's keys from the target once it is over. */
export async function clearSyncKeys(map: SlotMap, keys: SyncKeys): Promise<void> {
  await Promise.all(
    map.masters().map(async (owner) => {
      const own: Buffer[] = [keys.master(owner)];
      for (let slot = 0; slot < SLOT_COUNT; slot++) if (map.ownerOfSlot(slot) === owner) own.push(keys.slot(slot));
      if (map.ownerOf(keys.stop) === owner)
        own.push(keys.stop, keys.generation, keys.snapshotCut, keys.notify, keys.drainAsked, keys.drained);
      const connection = await map.bulk(owner);
      for (let i = 0; i < own.length; i += 1000)
        await connection.execOrThrow(
          own.slice(i, i + 1000).map((key) => ['UNLINK', key]),
          'removing sync state',
        );
    }),
  );
}

/** The port this sync announces (REPLCONF listening-port): how the source's INFO replication names the link. */
export function listeningPortFor(syncId: string, shardId: string): number {
  return 20_000 + (createHash('sha1').update(`${syncId}:${shardId}`).digest().readUInt16BE(0) % 20_000);
}
