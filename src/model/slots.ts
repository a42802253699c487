/** Slot-range math for the 16384 hash slots of a Redis Cluster. */

export const SLOT_COUNT = 16384;

/** An inclusive range of slots, `[start, end]`. */
export type SlotRange = readonly [start: number, end: number];

/** Parses "0-4095" or "42" into an inclusive range; throws with the offending text when malformed. */
export function parseSlotRange(text: string): SlotRange {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!match) throw new Error(`"${text}" is not a slot or slot range (expected e.g. "0-4095")`);
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  if (start > end) throw new Error(`slot range "${text}" starts after it ends`);
  if (end >= SLOT_COUNT) throw new Error(`slot range "${text}" goes past the last slot ${SLOT_COUNT - 1}`);
  return [start, end];
}

export function formatSlotRange([start, end]: SlotRange): string {
  return start === end ? `${start}` : `${start}-${end}`;
}

/** Sorts and merges ranges that touch or overlap. */
export function mergeRanges(ranges: readonly SlotRange[]): SlotRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1] + 1) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** Turns a sorted list of slot numbers into merged ranges. */
export function rangesFromSlots(slots: Iterable<number>): SlotRange[] {
  return mergeRanges([...slots].map((slot) => [slot, slot] as const));
}

/** The ranges of `ranges` that are not in `minus`. */
export function subtractRanges(ranges: readonly SlotRange[], minus: readonly SlotRange[]): SlotRange[] {
  const taken = mergeRanges(minus);
  const result: SlotRange[] = [];
  for (const [start, end] of mergeRanges(ranges)) {
    let cursor = start;
    for (const [tStart, tEnd] of taken) {
      if (tEnd < cursor || tStart > end) continue;
      if (tStart > cursor) result.push([cursor, tStart - 1]);
      cursor = Math.max(cursor, tEnd + 1);
      if (cursor > end) break;
    }
    if (cursor <= end) result.push([cursor, end]);
  }
  return result;
}

export function intersectRanges(a: readonly SlotRange[], b: readonly SlotRange[]): SlotRange[] {
  const result: SlotRange[] = [];
  for (const [aStart, aEnd] of mergeRanges(a)) {
    for (const [bStart, bEnd] of mergeRanges(b)) {
      const start = Math.max(aStart, bStart);
      const end = Math.min(aEnd, bEnd);
      if (start <= end) result.push([start, end]);
    }
  }
  return mergeRanges(result);
}

export function countSlots(ranges: readonly SlotRange[]): number {
  return mergeRanges(ranges).reduce((sum, [start, end]) => sum + end - start + 1, 0);
}

export function sameRanges(a: readonly SlotRange[], b: readonly SlotRange[]): boolean {
  const ma = mergeRanges(a);
  const mb = mergeRanges(b);
  return ma.length === mb.length && ma.every(([s, e], i) => s === mb[i]?.[0] && e === mb[i]?.[1]);
}

export function describeRanges(ranges: readonly SlotRange[]): string {
  return mergeRanges(ranges).map(formatSlotRange).join(', ') || '(none)';
}
