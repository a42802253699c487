/** The target side of a migration: the cluster's masters, their slot map and key counts. */
import { parseInfo } from '../redis/cluster-nodes';
import { SlotMap } from '../redis/slot-map';
import { type ClusterSpec, adminAddress, masters } from '../model';

/** Keys this orchestrator keeps in the target for itself (copy checkpoints, live sync state, the epoch record). */
const INTERNAL_KEY_PREFIXES = ['rco:checkpoint:{', 'rco:sync:{', 'rco:epochs:{'].map((prefix) => Buffer.from(prefix));

export const isInternalKey = (key: Buffer): boolean =>
  INTERNAL_KEY_PREFIXES.some((prefix) => key.length > prefix.length && key.subarray(0, prefix.length).equals(prefix));

export function targetMap(spec: ClusterSpec): SlotMap {
  return new SlotMap(masters(spec).map(adminAddress));
}

export interface TargetKeyCount {
  node: string;
  keys: number;
  withTtl: number;
}

/** Keys on each master, in every database it holds (Valkey 9+ nodes can hold several: cluster-databases). */
async function countOn(map: SlotMap): Promise<(TargetKeyCount & { inDb0: number })[]> {
  return Promise.all(
    map.masters().map(async (address) => {
      const info = parseInfo((await (await map.client(address)).info('keyspace')) as string);
      const dbs = Object.entries(info).filter(([name]) => /^db\d+$/.test(name));
      const sum = (field: RegExp) => dbs.reduce((total, [, text]) => total + Number(field.exec(text)?.[1] ?? 0), 0);
      const inDb0 = Number(/keys=(\d+)/.exec(info.db0 ?? '')?.[1] ?? 0);
      return { node: address, keys: sum(/keys=(\d+)/), withTtl: sum(/expires=(\d+)/), inDb0 };
    }),
  );
}

/** Keys and keys with an expiry on each target master. */
export async function countTargetKeys(spec: ClusterSpec): Promise<TargetKeyCount[]> {
  const map = targetMap(spec);
  try {
    await map.refresh();
    return (await countOn(map)).map(({ node, keys, withTtl }) => ({ node, keys, withTtl }));
  } finally {
    map.close();
  }
}

/**
 * Keys of users in the target (internal keys left out): whether the target held data of its own before a copy.
 * Counted exactly for small key counts, where leftover checkpoints would otherwise count as data.
 */
export async function userKeysInTarget(map: SlotMap): Promise<number> {
  const counts = await countOn(map);
  const total = counts.reduce((sum, n) => sum + n.keys, 0);
  if (total > 1000) return total;
  // Internal keys live in db 0 only: keys in any other database are users'.
  let user = total - counts.reduce((sum, n) => sum + n.inDb0, 0);
  for await (const { keys } of scanMasters(map)) user += keys.filter((key) => !isInternalKey(key)).length;
  return user;
}

/** Every key (matching `match`) of every target master, a SCAN batch at a time, with the master it came from. */
export async function* scanMasters(map: SlotMap, match?: string): AsyncGenerator<{ owner: string; keys: Buffer[] }> {
  for (const owner of map.masters()) {
    const client = await map.client(owner);
    let cursor = '0';
    do {
      const [next, keys] = match
        ? await client.scanBuffer(cursor, 'MATCH', match, 'COUNT', 1000)
        : await client.scanBuffer(cursor, 'COUNT', 1000);
      cursor = next.toString();
      yield { owner, keys };
    } while (cursor !== '0');
  }
}
