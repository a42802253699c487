/**
 * Slot moves: slots a master of the cluster owns that the spec gives to another master, and slots anyone left
 * half-moved (importing or migrating, by us or by `redis-cli`), each to bring to the master the spec names. Decided
 * from the live nodes only. Pure: the moveSlots step does exactly these moves, and `rco plan` prints them.
 */
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  type SlotRange,
  countSlots,
  describeRanges,
  masters,
  nodeSlots,
  rangesFromSlots,
} from '../model';
import type { LiveCluster } from './live';

/** Where a slot is now: the address and id of the master that owns it. */
export interface SlotOwner {
  address: string;
  id: string;
}

export interface SlotMove {
  /** The spec master that must own the slots. */
  to: NodeSpec;
  /** Their owner now; the same as `to` for slots it owns that were left half-moved. */
  from: SlotOwner;
  ranges: SlotRange[];
  /** Slots among them left importing or migrating somewhere. */
  open: number[];
}

/**
 * Each slot's owner as the live masters of the spec say: a master's own line first (it knows its slots best), then
 * what the others' views show (a master that is not in the spec any more, or one that is down).
 */
export function liveSlotOwners(spec: ClusterSpec, live: LiveCluster): Map<number, SlotOwner> {
  const owners = new Map<number, SlotOwner>();
  const claim = (slots: readonly SlotRange[], owner: SlotOwner, overwrite: boolean) => {
    for (const [start, end] of slots)
      for (let slot = start; slot <= end; slot++) if (overwrite || !owners.has(slot)) owners.set(slot, owner);
  };
  const views = masters(spec).flatMap((node) => {
    const view = live.get(node.id)?.view;
    return view && view.nodes.length > 1 ? [{ node, view }] : [];
  });
  for (const { view } of views)
    for (const line of view.nodes)
      if (!line.myself && line.role === 'master' && !line.handshake)
        claim(line.slots, { address: `${line.host}:${line.port}`, id: line.id }, false);
  for (const { node, view } of views)
    claim(view.myself.slots, { address: `${node.host}:${node.port}`, id: view.myself.id }, true);
  return owners;
}

/** Slots marked importing or migrating on any master of the spec. */
export function openSlots(spec: ClusterSpec, live: LiveCluster): Set<number> {
  const open = new Set<number>();
  for (const node of masters(spec))
    for (const mark of live.get(node.id)?.view?.myself.openSlots ?? []) open.add(mark.slot);
  return open;
}

/** The moves that bring every slot to its spec master, grouped by (from, to) into ranges. */
export function decideSlotMoves(spec: ClusterSpec, live: LiveCluster): SlotMove[] {
  const owners = liveSlotOwners(spec, live);
  const open = openSlots(spec, live);
  const moves = new Map<string, { to: NodeSpec; from: SlotOwner; slots: number[]; open: number[] }>();
  for (const to of masters(spec)) {
    const ownAddress = `${to.host}:${to.port}`;
    for (const [start, end] of nodeSlots(to))
      for (let slot = start; slot <= end; slot++) {
        const from = owners.get(slot);
        // Unowned slots are assigned (assignSlots); slots already there and settled need nothing.
        if (!from || (from.address === ownAddress && !open.has(slot))) continue;
        const key = `${from.id}>${to.id}`;
        let move = moves.get(key);
        if (!move) moves.set(key, (move = { to, from, slots: [], open: [] }));
        move.slots.push(slot);
        if (open.has(slot)) move.open.push(slot);
      }
  }
  return [...moves.values()].map(({ to, from, slots, open: half }) => ({
    to,
    from,
    ranges: rangesFromSlots(slots),
    open: half,
  }));
}

export const slotMoveChanges = (moves: SlotMove[]): PlannedChange[] =>
  moves.map((move) => {
    const fromSelf = move.from.address === `${move.to.host}:${move.to.port}`;
    const half = move.open.length > 0 ? `, closing ${move.open.length} half-moved slot(s)` : '';
    return {
      step: 'moveSlots',
      node: move.to.id,
      change: fromSelf
        ? `settle slots ${describeRanges(move.ranges)} it owns but were left half-moved${half}`
        : `move slots ${describeRanges(move.ranges)} (${countSlots(move.ranges)} slots) from ${move.from.address} (${move.from.id.slice(0, 8)})${half}`,
    };
  });
