/** Step 1 (inspectNodes): the read-only preflight. A node we must not touch stops the run before anything changes. */
import type { ClusterSpec, Refusal } from '../model';
import { ephemeralPortWarning } from '../host/ports';
import { fail, log } from '../runtime/context';
import { type InspectResult, decidePreflight, firstRefusals } from './decisions';
import { readLiveCluster } from './live';

/** Fails with the first kind of refusal, naming every node it applies to. */
export function refuse(refusals: Refusal[]): void {
  const group = firstRefusals(refusals);
  if (group.length > 0) fail(group[0]!.type, group.map((r) => r.message).join('; '));
}

export async function inspectNodes(spec: ClusterSpec): Promise<InspectResult[]> {
  const { results, refusals } = decidePreflight(spec, await readLiveCluster(spec));
  refuse(refusals);
  log.info('nodes inspected', { states: Object.fromEntries(results.map((r) => [r.node, r.state])) });
  // Nodes to start whose ports an outgoing connection may take first: said before, fixed by a reservation.
  const toStart = spec.nodes.filter((n) => results.find((r) => r.node === n.id)?.state === 'absent');
  const warning = await ephemeralPortWarning(toStart);
  if (warning) {
    log.warn(warning);
    for (const result of results) if (toStart.some((n) => n.id === result.node)) result.warning = warning;
  }
  return results;
}
