/** A key-by-key comparison of source and target, read from the live nodes. */
export { fillBigHash, fillEveryType } from '../../src/local/sample-data';
import type Redis from 'ioredis';
import { digestKey, printableKey } from '../../src/redis/digest';
import { SlotMap } from '../../src/redis/slot-map';
import type { NodeAddress } from '../../src/redis/connection';

/** Every key of the source nodes compared with the target: type, type-aware value digest, expiry. */
export async function compareAllKeys(
  sources: Redis[],
  targetMasters: NodeAddress[],
  options: { prefix?: string; ttlToleranceMs?: number } = {},
): Promise<{ compared: number; differences: string[] }> {
  const map = new SlotMap(targetMasters);
  await map.refresh();
  const differences: string[] = [];
  let compared = 0;
  try {
    for (const source of sources) {
      let cursor = '0';
      do {
        const [next, keys] = await source.scanBuffer(cursor, 'COUNT', 1000);
        cursor = next.toString();
        for (const key of keys) {
          const want = await digestKey(source, key);
          if (want.type === 'none') continue;
          const targetKey = options.prefix ? Buffer.concat([Buffer.from(options.prefix), key]) : key;
          const got = await digestKey(await map.client(map.ownerOf(targetKey)), targetKey);
          compared++;
          const name = printableKey(key);
          if (got.type !== want.type) differences.push(`${name}: type ${got.type}, expected ${want.type}`);
          else if (got.digest !== want.digest) differences.push(`${name}: value differs`);
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
  return { compared, differences };
}
