/**
 * Did a source take writes while it was copied? A snapshot copy cannot carry them; the report must say so.
 * Redis counts writes in its dirty counter (reset by a save), and without a replica its replication offset does
 * not move, so a stamp keeps both, with the expiries and evictions that the dirty counter also counts.
 */

export interface WriteStamp {
  /** The source node, host:port. */
  node: string;
  runId: string;
  replOffset: number;
  dirty: number;
  saves: number;
  expired: number;
  evicted: number;
}

export interface SourceChange {
  node: string;
  /** Writes counted between the two stamps (expiries and evictions left out); undefined when they cannot be told. */
  writes?: number;
  restarted: boolean;
  /** Bytes the replication offset moved (0 without a replica). */
  replicationBytes: number;
}

/** What happened on a source between two stamps; undefined when it took no writes. */
export function sourceChange(before: WriteStamp, after: WriteStamp): SourceChange | undefined {
  if (before.runId !== after.runId)
    return { node: after.node, restarted: true, replicationBytes: 0, writes: undefined };
  const replicationBytes = Math.max(0, after.replOffset - before.replOffset);
  const sameSaves = before.saves === after.saves;
  const writes = sameSaves
    ? Math.max(0, after.dirty - before.dirty - (after.expired - before.expired) - (after.evicted - before.evicted))
    : undefined;
  if (writes === 0 && replicationBytes === 0) return undefined;
  if (writes === undefined && replicationBytes === 0 && after.dirty === 0) return undefined; // saved, nothing since
  return { node: after.node, writes, restarted: false, replicationBytes };
}

/** A sentence for the report: what changed on the sources `when` (e.g. "while it was copied"). */
export function describeSourceChanges(changes: SourceChange[], when = 'while it was copied'): string | undefined {
  if (changes.length === 0) return undefined;
  const parts = changes.map((c) =>
    c.restarted
      ? `${c.node} restarted`
      : c.writes !== undefined
        ? `${c.node} took ${c.writes} write(s)`
        : `${c.node} took writes (it saved meanwhile, so how many is unknown)`,
  );
  return `the source changed ${when}: ${parts.join(', ')}. A snapshot copy cannot carry writes made during the copy; stop writes to the source before copying`;
}
