/**
 * A slot layout balanced by a measure (keys, memory, CPU, network) rather than by slot count. Pure: the measure per
 * slot is read elsewhere (cluster/slot-stats.ts). The masters keep their order along the slot line, each gets one
 * contiguous range, and each boundary is put where the measure left of it is closest to its even share: slots move
 * only between neighbours, and only those between an old boundary and its new place.
 */
import { SLOT_COUNT, type SlotRange, countSlots, intersectRanges, subtractRanges } from './slots';

export type BalanceMeasure = 'keys' | 'memory' | 'cpu' | 'network';

export interface MasterSlots {
  id: string;
  ranges: SlotRange[];
}

export interface BalancedMaster {
  id: string;
  /** The measure over the slots it owns now, and over those the plan gives it. */
  before: number;
  after: number;
  ranges: SlotRange[];
  slotsIn: number;
  slotsOut: number;
}

export interface SlotTransfer {
  from: string;
  to: string;
  ranges: SlotRange[];
  slots: number;
  /** The measure carried (for keys: the keys to move). */
  weight: number;
}

export interface BalancePlan {
  masters: BalancedMaster[];
  transfers: SlotTransfer[];
  total: number;
}

const sumOver = (ranges: readonly SlotRange[], prefix: number[]) =>
  ranges.reduce((sum, [a, b]) => sum + prefix[b + 1]! - prefix[a]!, 0);

/** The plan for `masters` (every slot owned by one of them) given the measure of each slot (`weights[slot]`). */
export function balanceSlots(masters: readonly MasterSlots[], weights: readonly number[]): BalancePlan {
  if (weights.length !== SLOT_COUNT) throw new Error(`a measure per slot is needed (${weights.length} given)`);
  const prefix = [0];
  for (let s = 0; s < SLOT_COUNT; s++) prefix.push(prefix[s]! + Math.max(0, weights[s] ?? 0));
  const total = prefix[SLOT_COUNT]!;
  const ordered = [...masters].sort((a, b) => firstSlot(a) - firstSlot(b));
  const n = ordered.length;
  // Boundary k: the first slot of master k (k = 1..n-1), where the measure before it is nearest k/n of the total;
  // at least one slot per master. Nothing measured: the current layout's boundaries stay.
  const starts = [0];
  for (let k = 1; k < n; k++) {
    const low = starts[k - 1]! + 1;
    const high = SLOT_COUNT - (n - k);
    let best = total === 0 ? Math.min(Math.max(firstSlot(ordered[k]!), low), high) : low;
    if (total > 0) {
      const want = (total * k) / n;
      for (let s = low; s <= high; s++)
        if (Math.abs(prefix[s]! - want) < Math.abs(prefix[best]! - want)) best = s;
        else if (prefix[s]! > want) break;
    }
    starts.push(best);
  }
  const planned = ordered.map((_, k): SlotRange[] => [[starts[k]!, (starts[k + 1] ?? SLOT_COUNT) - 1]]);
  const result: BalancedMaster[] = ordered.map((m, k) => ({
    id: m.id,
    before: sumOver(m.ranges, prefix),
    after: sumOver(planned[k]!, prefix),
    ranges: planned[k]!,
    slotsIn: countSlots(subtractRanges(planned[k]!, m.ranges)),
    slotsOut: countSlots(subtractRanges(m.ranges, planned[k]!)),
  }));
  const transfers: SlotTransfer[] = [];
  for (const from of ordered)
    for (const [k, to] of ordered.entries()) {
      if (to === from) continue;
      const ranges = intersectRanges(from.ranges, planned[k]!);
      if (ranges.length > 0)
        transfers.push({
          from: from.id,
          to: to.id,
          ranges,
          slots: countSlots(ranges),
          weight: sumOver(ranges, prefix),
        });
    }
  return { masters: result, transfers, total };
}

function firstSlot(master: MasterSlots): number {
  return Math.min(...master.ranges.map(([a]) => a));
}

/** How uneven a layout is: the largest share over the smallest share, minus one (0: even). */
export function spread(values: readonly number[]): number {
  const max = Math.max(...values);
  const min = Math.min(...values);
  return min > 0 ? max / min - 1 : max > 0 ? Infinity : 0;
}
