/**
 * Comparing one key's value on two servers by what it means, not by how it is encoded or printed, and piece by piece:
 * never a whole value in memory, whatever its size. Sorted-set scores compare as doubles (Redis 7.0 prints 0.1 as
 * 0.10000000000000001, 8.x and Valkey as 0.1), streams with their consumer groups, consumers and pending entries.
 */
import type Redis from 'ioredis';
import { compareStream } from './compare-streams';
import { type Side, PIECE, both, same } from './pieces';
import { capabilitiesOf, expireAtFrom, expiryCommand } from './servers';

const STRING_PIECE = 1 << 20;

export interface KeyState {
  type: string;
  /** Absolute expiry in ms since the epoch, or -1 without TTL, or -2 when the key does not exist. */
  expireAt: number;
}

/** TYPE and expiry, read in one transaction: between two reads a key could expire, and look present without one. */
export async function readTypeAndExpiry(client: Redis, key: Buffer): Promise<KeyState> {
  const server = await capabilitiesOf(client);
  const sentAt = Date.now();
  const replies =
    (await client
      .multi()
      .type(key)
      .call(...expiryCommand(server, key))
      .exec()) ?? [];
  const failed = replies.find(([error]) => error)?.[0];
  if (failed || replies.length !== 2) throw failed ?? new Error('TYPE and expiry: the transaction was aborted');
  const type = String(replies[0]![1]);
  return { type, expireAt: type === 'none' ? -2 : expireAtFrom(server, replies[1]![1], sentAt) };
}

/** A score as the double it denotes: "0.10000000000000001" and "0.1" are the same double. */
export function canonicalScore(text: Buffer | string): string {
  const s = String(text).toLowerCase();
  if (s === 'inf' || s === '+inf') return 'inf';
  if (s === '-inf') return '-inf';
  return String(Number(s));
}

export interface KeyComparison {
  source: KeyState;
  target: KeyState;
  /** Why the values differ; undefined when they are equal (expiries are the caller's to compare). */
  difference?: string;
}

export interface CompareOptions {
  /**
   * Called after each piece (long comparisons heartbeat) with where the next piece starts: a SCAN cursor or an index,
   * which `from` takes to go on from there after a retry. Empty where a type cannot resume (streams).
   */
  onPiece?: (next: string) => void;
  /** Where a comparison cut off after a piece goes on (what onPiece said last); undefined: from the start. */
  from?: string;
  /**
   * The target got the value through a replication stream (live mode): consumer groups' `entries-read` is then not
   * compared, because replication does not carry it (a server's own replica shows it as nil: measured on Redis 7.0.15
   * and 8.2.3 and Valkey 8.1.8).
   */
  replicated?: boolean;
}

/** Compares the value of `sourceKey` on `source` with `targetKey` on `target`, piece by piece. */
export async function compareKey(
  source: Redis,
  sourceKey: Buffer,
  target: Redis,
  targetKey: Buffer,
  options: CompareOptions = {},
): Promise<KeyComparison> {
  const [want, got] = await Promise.all([readTypeAndExpiry(source, sourceKey), readTypeAndExpiry(target, targetKey)]);
  const result: KeyComparison = { source: want, target: got };
  if (want.type === 'none' || got.type === 'none') {
    if (want.type !== got.type)
      result.difference = got.type === 'none' ? 'missing in the target' : 'missing in the source';
    return result;
  }
  if (want.type !== got.type) {
    result.difference = `type ${got.type} in the target, ${want.type} in the source`;
    return result;
  }
  const a: Side = { client: source, key: sourceKey, server: await capabilitiesOf(source) };
  const b: Side = { client: target, key: targetKey, server: await capabilitiesOf(target) };
  result.difference = await compareValues(
    want.type,
    a,
    b,
    options.onPiece ?? (() => undefined),
    options.replicated,
    options.from,
  );
  return result;
}

async function compareValues(
  type: string,
  a: Side,
  b: Side,
  onPiece: (next: string) => void,
  replicated = false,
  from?: string,
): Promise<string | undefined> {
  switch (type) {
    case 'string':
      return compareString(a, b, onPiece, from);
    case 'list':
      return compareByIndex(
        a,
        b,
        'LLEN',
        (s, i) => s.client.callBuffer('LRANGE', s.key, i, i + PIECE - 1),
        onPiece,
        from,
      );
    case 'zset':
      return compareByIndex(
        a,
        b,
        'ZCARD',
        async (s, i) => {
          const flat = (await s.client.callBuffer('ZRANGE', s.key, i, i + PIECE - 1, 'WITHSCORES')) as Buffer[];
          return flat.map((item, n) => (n % 2 === 1 ? Buffer.from(canonicalScore(item)) : item));
        },
        onPiece,
        from,
      );
    case 'hash':
      return compareHash(a, b, onPiece, from);
    case 'set':
      return compareSet(a, b, onPiece, from);
    case 'stream':
      return compareStream(a, b, () => onPiece(''), replicated);
    default: {
      // A module type: only its own encoding can be compared.
      const [x, y] = await both(a, b, (s) => s.client.callBuffer('DUMP', s.key) as Promise<Buffer | null>);
      return x && y && x.subarray(0, -10).equals(y.subarray(0, -10)) ? undefined : 'value differs';
    }
  }
}

async function compareString(
  a: Side,
  b: Side,
  onPiece: (next: string) => void,
  from?: string,
): Promise<string | undefined> {
  const [la, lb] = await both(a, b, (s) => s.client.strlen(s.key));
  if (la !== lb) return `length ${lb} in the target, ${la} in the source`;
  for (let start = Number(from ?? 0); start < la; start += STRING_PIECE) {
    const end = Math.min(start + STRING_PIECE, la) - 1;
    const [x, y] = await both(a, b, (s) => s.client.callBuffer('GETRANGE', s.key, start, end) as Promise<Buffer>);
    if (!x.equals(y)) return `value differs in bytes ${start}-${end}`;
    onPiece(String(start + STRING_PIECE));
  }
  return undefined;
}

/** Ordered types: the same range of indexes read on both sides, piece by piece. */
async function compareByIndex(
  a: Side,
  b: Side,
  lengthCommand: 'LLEN' | 'ZCARD',
  range: (side: Side, start: number) => Promise<unknown>,
  onPiece: (next: string) => void,
  from?: string,
): Promise<string | undefined> {
  const [la, lb] = await both(a, b, async (s) => Number(await s.client.call(lengthCommand, s.key)));
  if (la !== lb) return `${lb} elements in the target, ${la} in the source`;
  for (let start = Number(from ?? 0); start < la; start += PIECE) {
    const [x, y] = (await both(a, b, (s) => range(s, start))) as [Buffer[], Buffer[]];
    if (!same(x, y)) return `elements ${start}-${start + PIECE - 1} differ`;
    onPiece(String(start + PIECE));
  }
  return undefined;
}

/**
 * Unordered types: the source is scanned in pieces and each piece looked up in the target; with equal sizes, every
 * source element found with its value means equal (a SCAN may return an element twice, which changes nothing here).
 */
async function scanCompare(
  a: Side,
  b: Side,
  sizeCommand: 'HLEN' | 'SCARD',
  scanCommand: 'HSCAN' | 'SSCAN',
  check: (items: Buffer[]) => Promise<string | undefined>,
  onPiece: (next: string) => void,
  from?: string,
): Promise<string | undefined> {
  const [la, lb] = await both(a, b, async (s) => Number(await s.client.call(sizeCommand, s.key)));
  if (la !== lb) return `${lb} elements in the target, ${la} in the source`;
  let cursor = from ?? '0';
  do {
    const [next, items] = (await a.client.callBuffer(scanCommand, a.key, cursor, 'COUNT', PIECE)) as [Buffer, Buffer[]];
    cursor = next.toString();
    if (items.length > 0) {
      const difference = await check(items);
      if (difference) return difference;
    }
    onPiece(cursor);
  } while (cursor !== '0');
  return undefined;
}

function compareHash(a: Side, b: Side, onPiece: (next: string) => void, from?: string): Promise<string | undefined> {
  const fieldTtls = a.server.hashFieldTtl && b.server.hashFieldTtl;
  return scanCompare(
    a,
    b,
    'HLEN',
    'HSCAN',
    async (items) => {
      const fields = items.filter((_, i) => i % 2 === 0);
      const values = (await b.client.callBuffer('HMGET', b.key, ...fields)) as (Buffer | null)[];
      const at = fields.findIndex((_, i) => !values[i] || !values[i]!.equals(items[2 * i + 1]!));
      if (at >= 0) return `field ${fields[at]!.toString()} differs`;
      if (!fieldTtls) return undefined;
      const [x, y] = await both(
        a,
        b,
        (s) => s.client.call('HPEXPIRETIME', s.key, 'FIELDS', fields.length, ...fields) as Promise<number[]>,
      );
      const ttl = fields.findIndex((_, i) => x[i]! > 0 !== y[i]! > 0 || Math.abs(x[i]! - y[i]!) > 1000);
      return ttl >= 0
        ? `field ${fields[ttl]!.toString()}: expiry ${y[ttl]} in the target, ${x[ttl]} in the source`
        : undefined;
    },
    onPiece,
    from,
  );
}

function compareSet(a: Side, b: Side, onPiece: (next: string) => void, from?: string): Promise<string | undefined> {
  return scanCompare(
    a,
    b,
    'SCARD',
    'SSCAN',
    async (members) => {
      const found = (await b.client.call('SMISMEMBER', b.key, ...members)) as number[];
      const at = found.findIndex((n) => n !== 1);
      return at >= 0 ? `member ${members[at]!.toString()} missing in the target` : undefined;
    },
    onPiece,
    from,
  );
}

/** A key name fit for a report: UTF-8 when it is, else hex. */
export function printableKey(key: Buffer): string {
  const text = key.toString('utf8');
  return Buffer.from(text, 'utf8').equals(key) ? text : `0x${key.toString('hex')}`;
}
