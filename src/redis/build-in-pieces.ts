/**
 * Builds a copy of one value under another key, a piece at a time: fields, members or elements read by SCAN or
 * ranges and written in batches, so that neither side ever holds or sends the whole value at once. The reads and
 * writes are functions, so that the copy and the slot moves each send them their own way (a move's target needs
 * ASKING before each command). Streams have their own rebuild (src/migration/rebuild-stream.ts).
 */
import calculateSlot from 'cluster-key-slot';

/** A temporary key in the same slot as `key`, or undefined when the name leaves no way to make one. */
export function temporaryKeyFor(key: Buffer): Buffer | undefined {
  const slot = calculateSlot(key);
  for (const candidate of [
    Buffer.concat([key, Buffer.from('.rco-tmp')]),
    Buffer.concat([Buffer.from('{'), key, Buffer.from('}.rco-tmp')]),
  ])
    if (calculateSlot(candidate) === slot) return candidate;
  return undefined;
}

/** Sends one command and returns its reply. */
export type Send = (command: string, ...args: (string | Buffer)[]) => Promise<unknown>;

/** The types built here. */
export const PIECEWISE_TYPES = ['hash', 'set', 'zset', 'list', 'string'] as const;
export type PiecewiseType = (typeof PIECEWISE_TYPES)[number];

export const isPiecewise = (type: string): type is PiecewiseType =>
  (PIECEWISE_TYPES as readonly string[]).includes(type);

/** Items per piece; a string goes in pieces of 1 MiB. */
const ITEMS = 1000;
const STRING_PIECE = 1 << 20;

/**
 * Builds `key`'s value (of `type`, read through `read`) as `into` through `write`, which must not exist yet. `onHash`
 * sees each piece of hash fields once written (the copy carries their field expirations there); `onPiece` each piece.
 */
export async function buildInPieces(
  read: Send,
  key: Buffer,
  type: PiecewiseType,
  write: Send,
  into: Buffer,
  { onHash, onPiece }: { onHash?: (fields: Buffer[]) => Promise<void>; onPiece?: () => void } = {},
): Promise<void> {
  // Each piece is read while the one before it is written: the two sides work at the same time.
  const scanInto = async (command: 'HSCAN' | 'SSCAN' | 'ZSCAN', put: (items: Buffer[]) => Promise<unknown>) => {
    let cursor = '0';
    let writing: Promise<unknown> = Promise.resolve();
    do {
      const [next, items] = (await read(command, key, cursor, 'COUNT', String(ITEMS))) as [Buffer, Buffer[]];
      cursor = next.toString();
      await writing;
      if (items.length > 0) {
        writing = put(items);
        writing.catch(() => undefined); // awaited at the next piece; a failure must not go unhandled until then
      }
      onPiece?.();
    } while (cursor !== '0');
    await writing;
  };
  switch (type) {
    case 'hash':
      return scanInto('HSCAN', async (items) => {
        await write('HSET', into, ...items);
        await onHash?.(items);
      });
    case 'set':
      return scanInto('SSCAN', (items) => write('SADD', into, ...items));
    case 'zset':
      return scanInto('ZSCAN', (items) => {
        const args: Buffer[] = [];
        for (let i = 0; i < items.length; i += 2) args.push(items[i + 1]!, items[i]!);
        return write('ZADD', into, ...args);
      });
    case 'list': {
      const length = Number(await read('LLEN', key));
      for (let start = 0; start < length; start += ITEMS) {
        const items = (await read('LRANGE', key, String(start), String(start + ITEMS - 1))) as Buffer[];
        if (items.length > 0) await write('RPUSH', into, ...items);
        onPiece?.();
      }
      return;
    }
    case 'string': {
      const length = Number(await read('STRLEN', key));
      await write('SET', into, '');
      for (let start = 0; start < length; start += STRING_PIECE) {
        const end = Math.min(start + STRING_PIECE, length) - 1;
        await write('APPEND', into, (await read('GETRANGE', key, String(start), String(end))) as Buffer);
        onPiece?.();
      }
    }
  }
}
