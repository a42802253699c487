/**
 * The scheduled drift check: how the live cluster differs from its spec now (a node down, slots, the replica
 * mapping, nofailover, epochs), read only. A node that does not answer is drift, not an error: the check still
 * reports everything else it can see.
 */
import { type ClusterSpec, nodeLabel } from '../model';
import { decideNoFailover } from './decisions';
import { readLiveCluster } from './live';
import { inspectCluster } from './report';

export interface DriftReport {
  cluster: string;
  /** Every difference from the spec; empty when there is none. */
  drift: string[];
  nodesUp: number;
  nodesDown: string[];
}

export async function checkDrift(spec: ClusterSpec): Promise<DriftReport> {
  const live = await readLiveCluster(spec);
  const down = spec.nodes.filter((node) => !live.get(node.id)?.view);
  const drift = down.map((node) => `${nodeLabel(node)}: not answering`);
  drift.push(
    ...decideNoFailover(spec, live).set.map((r) => `${nodeLabel(r)}: cluster-replica-no-failover is not yes (live)`),
  );
  // The full comparison needs every node; with one down, the rest of it would only repeat that.
  if (down.length === 0) drift.push(...(await inspectCluster(spec)).problems);
  return { cluster: spec.name, drift, nodesUp: spec.nodes.length - down.length, nodesDown: down.map((n) => n.id) };
}
