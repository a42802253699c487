/** Counters read from the target's live masters. */
import { parseInfo } from '../../src/redis/cluster-nodes';
import { withNode } from '../../src/redis/connection';
import { type ClusterSpec, adminAddress, masters } from '../../src/model';

/** RESTORE commands the target masters executed (MIGRATE sends RESTORE-ASKING): every key written, repeats included. */
export async function restoresOnTarget(spec: ClusterSpec): Promise<number> {
  let total = 0;
  for (const address of masters(spec).map(adminAddress)) {
    const stats = parseInfo((await withNode(address, (c) => c.info('commandstats'))) as string);
    for (const name of ['cmdstat_restore-asking', 'cmdstat_restore'])
      total += Number(/calls=(\d+)/.exec(stats[name] ?? '')?.[1] ?? 0);
  }
  return total;
}

/** Per master: keys held and writes since the last save (Redis's dirty counter: any write moves it). */
export async function writesAndKeys(spec: ClusterSpec): Promise<{ node: string; keys: number; writes: number }[]> {
  return Promise.all(
    masters(spec).map(async (node) =>
      withNode(adminAddress(node), async (c) => ({
        node: node.id,
        keys: await c.dbsize(),
        writes: Number(parseInfo((await c.info('persistence')) as string).rdb_changes_since_last_save),
      })),
    ),
  );
}
