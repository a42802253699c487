/**
 * A big value read from an RDB a piece at a time, as the commands that build it (HSET, SADD, ZADD, RPUSH, XADD, and
 * a stream's id, counters, groups, consumers and pending entries), so that neither the worker nor the target ever
 * holds it whole. Each step reads one unit (an element, a quicklist node, a stream node, a stream's metadata) and
 * either reads it whole or throws NeedMore, leaving nothing half done: the parser calls it again from the same place.
 */
import { VALKEY_HASH_2 } from '../../model/servers';
import { listpackElements } from './rdb-write';
import { type Cursor, RdbError } from './rdb-encoding';

/** A command on the value's key: sent as [...command, key, ...args]. `merge`: consecutive ones can be one command. */
export interface Write {
  command: string[];
  args: (Buffer | string)[];
  merge?: boolean;
}

/** Types whose values can be unfolded; the compact encodings (listpack, ziplist, intset) are small by design. */
export const UNFOLDABLE_TYPES = new Set([1, 2, 3, 4, 5, 14, 15, 18, 19, 21, 22, 24, VALKEY_HASH_2]);

const text = (n: number | bigint) => Buffer.from(String(n));

/** A score as ZADD takes it: the shortest text that reads back as the same double. */
function scoreText(score: number): string {
  if (score === Infinity) return '+inf';
  if (score === -Infinity) return '-inf';
  return String(score);
}

/** The elements of a ziplist (lists of Redis before 7.0): strings, and integers as their decimal text. */
export function ziplistElements(zl: Buffer): Buffer[] {
  const elements: Buffer[] = [];
  let at = 10; // total bytes (4), tail offset (4), element count (2)
  for (;;) {
    if (at >= zl.length) throw new RdbError('ziplist ends without its end byte');
    if (zl[at] === 0xff) return elements;
    at += zl[at] === 0xfe ? 5 : 1; // the previous entry's length
    const encoding = zl[at]!;
    switch (encoding >> 6) {
      case 0:
        elements.push(zl.subarray(at + 1, at + 1 + (encoding & 0x3f)));
        at += 1 + (encoding & 0x3f);
        continue;
      case 1: {
        const length = ((encoding & 0x3f) << 8) | zl[at + 1]!;
        elements.push(zl.subarray(at + 2, at + 2 + length));
        at += 2 + length;
        continue;
      }
      case 2: {
        const length = zl.readUInt32BE(at + 1);
        elements.push(zl.subarray(at + 5, at + 5 + length));
        at += 5 + length;
        continue;
      }
    }
    const [value, size] = ziplistInteger(zl, at, encoding);
    elements.push(text(value));
    at += size;
  }
}

/** An integer entry of a ziplist at `at`: its value and its size with the encoding byte. */
function ziplistInteger(zl: Buffer, at: number, encoding: number): [number | bigint, number] {
  if (encoding === 0xc0) return [zl.readInt16LE(at + 1), 3];
  if (encoding === 0xd0) return [zl.readInt32LE(at + 1), 5];
  if (encoding === 0xe0) return [zl.readBigInt64LE(at + 1), 9];
  if (encoding === 0xf0) return [zl.readIntLE(at + 1, 3), 4];
  if (encoding === 0xfe) return [zl.readInt8(at + 1), 2];
  if (encoding >= 0xf1 && encoding <= 0xfd) return [(encoding & 0x0f) - 1, 1];
  throw new RdbError(`unknown ziplist encoding 0x${encoding.toString(16)}`);
}

/** A stream id from its 16 raw bytes (ms and seq, big-endian), as text. */
function rawId(raw: Buffer): string {
  return `${raw.readBigUInt64BE(0)}-${raw.readBigUInt64BE(8)}`;
}

/** The live entries of one stream node (a listpack of entries relative to its master id), as XADD writes. */
function streamNodeWrites(master: Buffer, lp: Buffer): Write[] {
  const ms = master.readBigUInt64BE(0);
  const seq = master.readBigUInt64BE(8);
  const e = listpackElements(lp);
  const int = (i: number) => Number(e[i]!.toString());
  let at = 2; // count, deleted
  const masterFields = e.slice(at + 1, at + 1 + int(at));
  at += 1 + masterFields.length + 1; // the master entry ends with a 0
  const writes: Write[] = [];
  while (at < e.length) {
    const flags = int(at);
    const id = `${ms + BigInt(e[at + 1]!.toString())}-${seq + BigInt(e[at + 2]!.toString())}`;
    at += 3;
    const fields: Buffer[] = [];
    if (flags & 2) {
      // Same fields as the master entry: only the values follow.
      for (const field of masterFields) fields.push(field, e[at++]!);
    } else {
      const n = int(at++);
      for (let k = 0; k < 2 * n; k++) fields.push(e[at++]!);
    }
    at++; // the entry's element count, for walking backwards
    if (!(flags & 1)) writes.push({ command: ['XADD'], args: [id, ...fields] });
  }
  return writes;
}

export interface UnfoldOptions {
  /** Now, in ms: hash fields that expired by then are not carried. */
  now: number;
}

/** One value of type `type` being unfolded: `step` reads its next unit; `done` once every unit was read. */
export class Unfolder {
  private remaining = -1;
  private minExpire = 0;
  private tailRead = false;
  private entriesWritten = 0;
  /** Hash fields with an expiration, carried as HPEXPIREAT writes. */
  fieldTtls = 0;

  constructor(
    readonly type: number,
    private readonly options: UnfoldOptions,
  ) {
    if (!UNFOLDABLE_TYPES.has(type)) throw new Error(`RDB type ${type} cannot be unfolded`);
  }

  get isStream(): boolean {
    return this.type === 15 || this.type === 19 || this.type === 21;
  }

  get done(): boolean {
    return this.remaining === 0 && (!this.isStream || this.tailRead);
  }

  /** Reads one unit at the cursor; throws NeedMore (having read nothing for good) when its bytes are not all here. */
  step(c: Cursor): Write[] {
    if (this.remaining < 0) {
      const minExpire = this.type === 24 ? Number(c.bytes(8).readBigUInt64LE(0)) : 0;
      this.remaining = c.len();
      this.minExpire = minExpire;
      return [];
    }
    if (this.remaining === 0) {
      const writes = this.streamTail(c);
      this.tailRead = true;
      return writes;
    }
    const writes = this.element(c);
    this.remaining--;
    return writes;
  }

  /** A hash field (expireAt: unix ms, 0 none): HSET, and HPEXPIREAT when it expires; nothing when it expired. */
  private hashField(field: Buffer, value: Buffer, expireAt: number): Write[] {
    if (expireAt > 0 && expireAt <= this.options.now) return [];
    const writes: Write[] = [{ command: ['HSET'], args: [field, value], merge: true }];
    if (expireAt > 0) {
      this.fieldTtls++;
      writes.push({ command: ['HPEXPIREAT'], args: [String(expireAt), 'FIELDS', '1', field] });
    }
    return writes;
  }

  private element(c: Cursor): Write[] {
    const add = (command: string, ...args: Buffer[]): Write[] => [{ command: [command], args, merge: true }];
    switch (this.type) {
      case 1:
        return add('RPUSH', c.string());
      case 2:
        return add('SADD', c.string());
      case 3: {
        const member = c.string();
        const length = c.byte();
        const score = length === 253 ? 'nan' : length === 254 ? '+inf' : length === 255 ? '-inf' : c.bytes(length);
        return add('ZADD', Buffer.from(score), member);
      }
      case 5: {
        const member = c.string();
        return add('ZADD', Buffer.from(scoreText(c.bytes(8).readDoubleLE(0))), member);
      }
      case 4:
        return add('HSET', c.string(), c.string());
      case 22:
      case 24: {
        const ttl = c.len();
        const field = c.string();
        const value = c.string();
        return this.hashField(field, value, ttl === 0 ? 0 : this.type === 24 ? ttl + this.minExpire - 1 : ttl);
      }
      case VALKEY_HASH_2: {
        const field = c.string();
        const value = c.string();
        return this.hashField(field, value, Math.max(Number(c.bytes(8).readBigInt64LE(0)), 0));
      }
      case 14:
        return add('RPUSH', ...ziplistElements(c.string()));
      case 18: {
        const container = c.len();
        const node = c.string();
        return add('RPUSH', ...(container === 1 ? [node] : listpackElements(node)));
      }
      default: {
        const master = c.string();
        const writes = streamNodeWrites(master, c.string());
        this.entriesWritten += writes.length;
        return writes;
      }
    }
  }

  /**
   * A stream's last id, counters, groups, consumers and pending entries (read as one unit: its size is that of the
   * pending entries), as the commands that set them on a stream built by XADD.
   */
  private streamTail(c: Cursor): Write[] {
    const v2 = this.type >= 19;
    const writes: Write[] = [];
    if (this.entriesWritten === 0)
      // An empty stream: made through a group made and dropped at once.
      writes.push(
        { command: ['XGROUP', 'CREATE'], args: ['rco-tmp', '0', 'MKSTREAM'] },
        { command: ['XGROUP', 'DESTROY'], args: ['rco-tmp'] },
      );
    c.len(); // length
    const lastId = `${c.len()}-${c.len()}`;
    if (v2) {
      c.len(); // first id
      c.len();
      const maxDeleted = `${c.len()}-${c.len()}`;
      const added = c.len();
      writes.push({ command: ['XSETID'], args: [lastId, 'ENTRIESADDED', String(added), 'MAXDELETEDID', maxDeleted] });
    } else writes.push({ command: ['XSETID'], args: [lastId] });
    for (let groups = c.len(); groups > 0; groups--) {
      const name = c.string();
      const lastDelivered = `${c.len()}-${c.len()}`;
      const read = v2 ? c.len() : undefined;
      // A group's entries-read is unknown (RDB: -1, read as the largest length) when the server could not count it.
      const entriesRead = read !== undefined && read < Number.MAX_SAFE_INTEGER ? ['ENTRIESREAD', String(read)] : [];
      writes.push({ command: ['XGROUP', 'CREATE'], args: [name, lastDelivered, ...entriesRead] });
      const pending = new Map<string, { time: bigint; count: number }>();
      for (let n = c.len(); n > 0; n--) {
        const id = rawId(c.bytes(16));
        const time = c.bytes(8).readBigUInt64LE(0);
        pending.set(id, { time, count: c.len() });
      }
      for (let consumers = c.len(); consumers > 0; consumers--) {
        const consumer = c.string();
        c.skip(this.type >= 21 ? 16 : 8); // seen (and active) time: set by the server as the consumer acts
        writes.push({ command: ['XGROUP', 'CREATECONSUMER'], args: [name, consumer] });
        for (let n = c.len(); n > 0; n--) {
          const id = rawId(c.bytes(16));
          const entry = pending.get(id);
          if (!entry) throw new RdbError(`stream consumer ${consumer.toString()} owns ${id}, which its group lacks`);
          writes.push({
            command: ['XCLAIM'],
            args: [
              name,
              consumer,
              '0',
              id,
              'TIME',
              String(entry.time),
              'RETRYCOUNT',
              String(entry.count),
              'FORCE',
              'JUSTID',
            ],
          });
        }
      }
    }
    return writes;
  }
}
