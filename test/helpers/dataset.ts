/** A key-by-key comparison of source and target, read from the live nodes. */
export { fillBigHash, fillEveryType } from '../../src/local/sample-data';
import type Redis from 'ioredis';
import { compareKey, printableKey } from '../../src/redis/compare';
import { SlotMap } from '../../src/redis/slot-map';
import type { NodeAddress } from '../../src/redis/connection';

/** Every key of the source nodes compared with the target: type, type-aware value digest, expiry. */
export async function compareAllKeys(
  sources: Redis[],
  targetMasters: NodeAddress[],
  options: { prefix?: string; ttlToleranceMs?: number; replicated?: boolean; targetDb?: number } = {},
): Promise<{ compared: number; differences: string[] }> {
  const map = new SlotMap(targetMasters, options.targetDb);
  await map.refresh();
  const differences: string[] = [];
  let count = 0;
  try {
    for (const source of sources) {
      let cursor = '0';
      do {
        const [next, keys] = await source.scanBuffer(cursor, 'COUNT', 1000);
        cursor = next.toString();
        // Concurrently within a batch: ioredis pipelines the commands of all keys on each connection.
        const compared = await Promise.all(
          keys.map(async (key) => {
            const targetKey = options.prefix ? Buffer.concat([Buffer.from(options.prefix), key]) : key;
            const target = await map.client(map.ownerOf(targetKey));
            return { key, ...(await compareKey(source, key, target, targetKey, { replicated: options.replicated })) };
          }),
        );
        for (const { key, source: want, target: got, difference } of compared) {
          if (want.type === 'none') continue;
          // Expiring while compared (both sides have the same absolute expiry): a read can find it gone on one side.
          if (want.expireAt > 0 && want.expireAt - Date.now() <= (options.ttlToleranceMs ?? 2000)) continue;
          count++;
          const name = printableKey(key);
          if (difference) differences.push(`${name}: ${difference}`);
          else if (got.expireAt > 0 !== want.expireAt > 0)
            differences.push(`${name}: expiry ${got.expireAt} vs ${want.expireAt}`);
          else if (Math.abs(got.expireAt - want.expireAt) > (options.ttlToleranceMs ?? 2000))
            differences.push(`${name}: expiry drift ${got.expireAt - want.expireAt} ms`);
        }
      } while (cursor !== '0');
    }
  } finally {
    map.close();
  }
  return { compared: count, differences };
}

/** Keys the target masters hold that no source holds (the orchestrator's own keys left out). */
export async function keysOnlyInTarget(sources: Redis[], targetMasters: NodeAddress[]): Promise<string[]> {
  const map = new SlotMap(targetMasters);
  await map.refresh();
  const extra: string[] = [];
  try {
    for (const address of map.masters()) {
      const client = await map.client(address);
      let cursor = '0';
      do {
        const [next, keys] = await client.scanBuffer(cursor, 'COUNT', 1000);
        cursor = next.toString();
        const own = keys.filter((key) => !/^rco:(checkpoint|sync|epochs):\{/.test(key.toString()));
        const held = await Promise.all(own.map((key) => Promise.all(sources.map((s) => s.exists(key).catch(() => 0)))));
        const lacking = own.filter((_, i) => held[i]!.every((n) => n === 0));
        // Not one expiring now: its source copy may have expired a moment before.
        const expiry = await Promise.all(lacking.map((key) => client.call('PEXPIRETIME', key) as Promise<number>));
        lacking.forEach(
          (key, i) => (expiry[i] === -1 || expiry[i]! - Date.now() > 2000) && extra.push(printableKey(key)),
        );
      } while (cursor !== '0');
    }
  } finally {
    map.close();
  }
  return extra;
}
