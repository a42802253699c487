/** Step 7 (setNoFailover): `cluster-replica-no-failover yes` on every replica, live and in its config file. */
import { type ClusterSpec, replicas } from '../model';
import { withSpecNode } from '../redis/connection';
import { log, waitUntil, withHeartbeat } from '../runtime/context';
import { decideNoFailover, noFailoverChanges } from './decisions';
import type { StepChanges } from './form';
import { readLiveCluster, readViews } from './live';

export async function setNoFailover(spec: ClusterSpec): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const decision = decideNoFailover(spec, await readLiveCluster(spec, replicas(spec)));
    for (const replica of decision.set)
      await withSpecNode(replica, (c) => c.call('CONFIG', 'SET', 'cluster-replica-no-failover', 'yes'));
    for (const replica of decision.persist) {
      await withSpecNode(replica, (c) => c.call('CONFIG', 'REWRITE'));
      log.info('nofailover persisted with CONFIG REWRITE', { node: replica.id });
    }
    // Each replica must show the flag itself; the verify step waits until gossip has carried it to every node.
    if (spec.nofailover)
      await waitUntil('every replica to show the nofailover flag', async () => {
        const views = await readViews(replicas(spec));
        return replicas(spec).flatMap((r) => (views.get(r.id)!.myself.noFailover ? [] : [`${r.id} lacks nofailover`]));
      });
    return { changes: noFailoverChanges(decision) };
  });
}
