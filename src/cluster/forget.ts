/**
 * Forgetting node ids cluster-wide, as the repair (ids of nodes that lost their data) and the removal of nodes (ids
 * of nodes the spec takes out) both do: CLUSTER FORGET on every node at once, since it bans an id for a minute only
 * and a node that still knows it would tell the others again; then a wait until no node knows it.
 */
import type { NodeSpec } from '../model';
import { withSpecNode } from '../redis/connection';
import { waitUntil } from '../runtime/context';
import { readViews } from './live';

/** CLUSTER FORGET of each id on every one of `nodes`, all at once; an id a node does not know is already done. */
export async function forgetOnEvery(nodes: NodeSpec[], ids: string[]): Promise<void> {
  await Promise.all(
    nodes.map((node) =>
      withSpecNode(node, async (client) => {
        for (const id of ids)
          await client.call('CLUSTER', 'FORGET', id).catch((err: Error) => {
            if (!/unknown node/i.test(err.message)) throw new Error(`${node.id}: CLUSTER FORGET ${id}: ${err.message}`);
          });
      }),
    ),
  );
}

/** Waits until none of `nodes` lists any of `ids`. */
export async function untilNoneKnows(nodes: NodeSpec[], ids: string[], what: string): Promise<void> {
  await waitUntil(`no node to know the ${what}`, async () => {
    const views = await readViews(nodes);
    return nodes.flatMap((n) =>
      views.get(n.id)!.nodes.some((l) => ids.includes(l.id)) ? [`${n.id} still knows one of the ${what}`] : [],
    );
  });
}
