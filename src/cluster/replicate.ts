/** Step 6 (replicateNodes): each replica meets its spec master and replicates it, one replica at a time. */
import { type ClusterSpec, adminAddress, replicas } from '../model';
import { lineAt, parseInfo } from '../redis/cluster-nodes';
import { withSpecNode } from '../redis/connection';
import { readView } from '../redis/view';
import { log, waitUntil, withHeartbeat } from '../runtime/context';
import { decideReplication, replicateChanges } from './decisions';
import { type StepChanges, meshProblems } from './form';
import { readLiveCluster } from './live';
import { refuse } from './preflight';

export async function replicateNodes(spec: ClusterSpec): Promise<StepChanges> {
  return withHeartbeat(async () => {
    const { attach, refusals } = decideReplication(spec, await readLiveCluster(spec));
    refuse(refusals);
    const joined = new Set(
      replicas(spec)
        .filter((r) => !attach.includes(r))
        .map((r) => r.id),
    );
    for (const replica of attach) {
      const master = spec.nodes.find((n) => n.id === replica.replicaOf)!;
      const masterId = await withSpecNode(master, async (c) => (await c.call('CLUSTER', 'MYID')) as string);
      const view = await readView(adminAddress(replica));
      // Meet the master and every node already in the cluster directly (no waiting on gossip). Only one epoch-0
      // master (this replica) joins at a time, so no config epoch collision can bump currentEpoch.
      const toMeet = spec.nodes.filter(
        (n) => n !== replica && (n.role === 'master' || joined.has(n.id)) && !lineAt(view, n.host, n.port),
      );
      if (toMeet.length > 0) {
        await withSpecNode(replica, async (c) => {
          for (const n of toMeet) await c.call('CLUSTER', 'MEET', n.host, String(n.port));
        });
        log.info('cluster meet', { from: replica.id, to: toMeet.map((n) => n.id) });
      }
      await waitUntil(`${replica.id} and ${master.id} to know each other`, () =>
        meshProblems([replica, master], [replica, master]),
      );
      await withSpecNode(replica, (c) => c.call('CLUSTER', 'REPLICATE', masterId));
      log.info('replica attached', { replica: replica.id, master: master.id, masterId });
      joined.add(replica.id);
      await waitUntil(`${replica.id} to become a replica of ${master.id}`, async () => {
        const me = (await readView(adminAddress(replica))).myself;
        return me.role === 'replica' && me.masterId === masterId
          ? []
          : [`${replica.id} is still ${me.flags.join(',')}`];
      });
    }
    // Nodes learn a replica's new role and flags from the packets it sends, which gossip alone delivers within
    // ~cluster-node-timeout/2. A MEET to a node it already knows is such a packet, right now: the receiver
    // updates the replica's role, master and nofailover flag, and the transient handshake entry is dropped.
    for (const replica of attach) {
      await withSpecNode(replica, async (c) => {
        for (const n of spec.nodes) if (n !== replica) await c.call('CLUSTER', 'MEET', n.host, String(n.port));
      });
    }
    await waitUntil(
      'every replica to finish its sync (master_link_status:up)',
      async () => {
        const states = await Promise.all(
          replicas(spec).map((r) => withSpecNode(r, async (c) => parseInfo((await c.info('replication')) as string))),
        );
        return replicas(spec).flatMap((r, i) =>
          states[i]!.master_link_status === 'up'
            ? []
            : [`${r.id}: master_link_status ${states[i]!.master_link_status}`],
        );
      },
      { timeoutMs: 120_000 },
    );
    return { changes: replicateChanges(spec, attach) };
  });
}
