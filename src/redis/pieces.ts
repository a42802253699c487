/** What the piece-by-piece comparisons share: one side of a comparison, the piece size, reads on both sides. */
import type Redis from 'ioredis';
import type { ServerCapabilities } from '../model/servers';

/** Elements read per round trip: a piece of a big value. */
export const PIECE = 1000;

/** One side of a comparison: a key on a server. */
export interface Side {
  client: Redis;
  key: Buffer;
  server: ServerCapabilities;
}

export const same = (x: Buffer[], y: Buffer[]) => x.length === y.length && x.every((item, i) => item.equals(y[i]!));

/** The same read on both sides, at once. */
export async function both<T>(a: Side, b: Side, read: (side: Side) => Promise<T>): Promise<[T, T]> {
  return Promise.all([read(a), read(b)]);
}
