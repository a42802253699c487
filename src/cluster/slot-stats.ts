/**
 * The load of each slot of a live cluster, for plans balanced by it (model/balance.ts): read on each slot's owner by
 * `CLUSTER SLOT-STATS` where the server has it (Valkey 8.0+, Redis 8.2+; CPU and network need
 * `cluster-slot-stats-enabled yes`, memory Redis 8.2+), else, for keys, `CLUSTER COUNTKEYSINSLOT`. Reads only.
 */
import type Redis from 'ioredis';
import {
  type BalanceMeasure,
  type ClusterSpec,
  type MasterSlots,
  SLOT_COUNT,
  type SlotRange,
  adminAddress,
  masters,
  rangesFromSlots,
} from '../model';
import { targetMap } from '../migration/target';

/** The SLOT-STATS fields of each measure, summed. */
const FIELDS: Record<BalanceMeasure, string[]> = {
  keys: ['key-count'],
  memory: ['memory-bytes'],
  cpu: ['cpu-usec'],
  network: ['network-bytes-in', 'network-bytes-out'],
};

export interface SlotLoad {
  /** Each master of the spec with the slots it owns now. */
  masters: MasterSlots[];
  weights: number[];
  /** How it was read, per master: "CLUSTER SLOT-STATS" or "CLUSTER COUNTKEYSINSLOT". */
  readWith: Record<string, string>;
}

export async function readSlotLoad(spec: ClusterSpec, measure: BalanceMeasure): Promise<SlotLoad> {
  const map = targetMap(spec);
  try {
    await map.refresh();
    const nodeOf = new Map<string, string>();
    for (const node of masters(spec)) {
      nodeOf.set(`${node.host}:${node.port}`, node.id);
      nodeOf.set(`${adminAddress(node).host}:${adminAddress(node).port}`, node.id);
    }
    const owned = new Map<string, number[]>();
    for (let slot = 0; slot < SLOT_COUNT; slot++) {
      const owner = map.ownerOfSlot(slot);
      if (!owned.has(owner)) owned.set(owner, []);
      owned.get(owner)!.push(slot);
    }
    const weights: number[] = Array(SLOT_COUNT).fill(0);
    const readWith: Record<string, string> = {};
    const result: MasterSlots[] = [];
    for (const [address, slots] of owned) {
      const id = nodeOf.get(address);
      if (!id) throw new Error(`slots of the live cluster are owned by ${address}, which is no master of the spec`);
      const ranges = rangesFromSlots(slots);
      result.push({ id, ranges });
      readWith[id] = await readOwner(await map.client(address), id, ranges, measure, weights);
    }
    return { masters: result, weights, readWith };
  } finally {
    map.close();
  }
}

/** Fills `weights` for the slots `ranges` of one owner; returns how it read them. */
async function readOwner(
  client: Redis,
  id: string,
  ranges: SlotRange[],
  measure: BalanceMeasure,
  weights: number[],
): Promise<string> {
  const stats = await slotStats(client, ranges);
  if (stats) {
    const fields = FIELDS[measure];
    for (const [slot, values] of stats) {
      const missing = fields.filter((f) => !(f in values));
      if (missing.length > 0)
        throw new Error(
          `${id}: CLUSTER SLOT-STATS gives no ${missing.join(', ')}, which "--balance ${measure}" needs: ${measure === 'memory' ? 'memory per slot is reported by Redis 8.2+ only' : 'set cluster-slot-stats-enabled yes on every master and let it gather load for a while'}`,
        );
      weights[slot] = fields.reduce((sum, f) => sum + values[f]!, 0);
    }
    return 'CLUSTER SLOT-STATS';
  }
  if (measure !== 'keys')
    throw new Error(
      `${id} has no CLUSTER SLOT-STATS (Valkey 8.0+, Redis 8.2+): only "--balance keys" can be read there`,
    );
  for (const [a, b] of ranges) {
    const pipeline = client.pipeline();
    for (let slot = a; slot <= b; slot++) pipeline.call('CLUSTER', 'COUNTKEYSINSLOT', slot);
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([err, count], i) => {
      if (err) throw err;
      weights[a + i] = Number(count);
    });
  }
  return 'CLUSTER COUNTKEYSINSLOT';
}

/** Slot -> field -> value, from CLUSTER SLOT-STATS; undefined when the server has no such command. */
async function slotStats(client: Redis, ranges: SlotRange[]): Promise<Map<number, Record<string, number>> | undefined> {
  const out = new Map<number, Record<string, number>>();
  for (const [a, b] of ranges) {
    let reply: [number, (string | number)[]][];
    try {
      reply = (await client.call('CLUSTER', 'SLOT-STATS', 'SLOTSRANGE', a, b)) as typeof reply;
    } catch (err) {
      if (/unknown subcommand|unknown command/i.test((err as Error).message)) return undefined;
      throw err;
    }
    for (const [slot, pairs] of reply) {
      const values: Record<string, number> = {};
      for (let i = 0; i + 1 < pairs.length; i += 2) values[String(pairs[i])] = Number(pairs[i + 1]);
      out.set(Number(slot), values);
    }
  }
  return out;
}
