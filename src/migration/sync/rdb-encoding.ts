/**
 * The RDB encodings a parser walks: lengths, strings (integers, LZF), and every value type, measured without being
 * decoded. Reads fail with NeedMore when a value runs past the bytes received so far.
 */

import { VALKEY_HASH_2 } from '../../model/servers';

/** Data that cannot be carried (a module type, a corrupt file): the sync stops and says why. */
export class RdbError extends Error {
  override name = 'RdbError';
}

/** Thrown inside a parse when the entry needs bytes not here yet: `total` bytes from the entry's start. */
export class NeedMore {
  constructor(readonly total: number) {}
}

export const OP = {
  /** Valkey 9: a slot import under way (its job name, then its slot ranges); a replica reads it, we skip it. */
  SLOT_IMPORT: 0xf3,
  SLOT_INFO: 0xf4,
  FUNCTION2: 0xf5,
  FUNCTION_PRE_GA: 0xf6,
  MODULE_AUX: 0xf7,
  IDLE: 0xf8,
  FREQ: 0xf9,
  AUX: 0xfa,
  RESIZEDB: 0xfb,
  EXPIRETIME_MS: 0xfc,
  EXPIRETIME: 0xfd,
  SELECTDB: 0xfe,
  EOF: 0xff,
} as const;

/** The value types by neutral id (servers.ts): Redis's up to RDB 12, and Valkey 9's own type 22. */
export const TYPE_NAMES: Record<number, string> = {
  0: 'string',
  1: 'list',
  2: 'set',
  3: 'zset',
  4: 'hash',
  5: 'zset',
  6: 'module',
  7: 'module',
  9: 'hash (zipmap)',
  10: 'list (ziplist)',
  11: 'set (intset)',
  12: 'zset (ziplist)',
  13: 'hash (ziplist)',
  14: 'list (quicklist)',
  15: 'stream',
  16: 'hash (listpack)',
  17: 'zset (listpack)',
  18: 'list (quicklist)',
  19: 'stream',
  20: 'set (listpack)',
  21: 'stream',
  22: 'hash with field expirations',
  23: 'hash (listpack) with field expirations',
  24: 'hash with field expirations',
  25: 'hash (listpack) with field expirations',
  [VALKEY_HASH_2]: 'hash with field expirations (Valkey)',
};

/** A read position in one contiguous buffer; every read checks the bytes are there. */
export class Cursor {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly start: number,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new NeedMore(this.pos + n - this.start);
  }

  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Bytes from `from` to the end of what has arrived. */
  bytesFrom(from: number): number {
    return this.buf.length - from;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** The bytes from `start` to here. */
  bytesBetween(start: number): Buffer {
    return this.buf.subarray(start, this.pos);
  }

  /** A length, or for strings a special encoding (`encoding` set: 0-2 integers, 3 LZF). */
  length(): { value: number; encoding?: number } {
    const first = this.byte();
    switch (first >> 6) {
      case 0:
        return { value: first & 0x3f };
      case 1:
        return { value: ((first & 0x3f) << 8) | this.byte() };
      case 2:
        if (first === 0x80) return { value: this.bytes(4).readUInt32BE(0) };
        if (first === 0x81) return { value: Number(this.bytes(8).readBigUInt64BE(0)) };
        throw new RdbError(`unknown length encoding 0x${first.toString(16)}`);
      default:
        return { value: 0, encoding: first & 0x3f };
    }
  }

  len(): number {
    const { value, encoding } = this.length();
    if (encoding !== undefined) throw new RdbError('an encoded value where a length belongs');
    return value;
  }

  skipString(): void {
    const { value, encoding } = this.length();
    if (encoding === undefined) this.skip(value);
    else if (encoding === 0) this.skip(1);
    else if (encoding === 1) this.skip(2);
    else if (encoding === 2) this.skip(4);
    else if (encoding === 3) {
      const compressed = this.len();
      this.len();
      this.skip(compressed);
    } else throw new RdbError(`unknown string encoding ${encoding}`);
  }

  string(): Buffer {
    const { value, encoding } = this.length();
    if (encoding === undefined) return Buffer.from(this.bytes(value));
    if (encoding === 0) return Buffer.from(String(this.bytes(1).readInt8(0)));
    if (encoding === 1) return Buffer.from(String(this.bytes(2).readInt16LE(0)));
    if (encoding === 2) return Buffer.from(String(this.bytes(4).readInt32LE(0)));
    if (encoding === 3) {
      const compressed = this.len();
      const length = this.len();
      return lzfDecompress(this.bytes(compressed), length);
    }
    throw new RdbError(`unknown string encoding ${encoding}`);
  }
}

/** LZF, as Redis compresses long strings in RDB files. */
export function lzfDecompress(input: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  let i = 0;
  let o = 0;
  while (i < input.length) {
    const ctrl = input[i++]!;
    if (ctrl < 32) {
      input.copy(out, o, i, i + ctrl + 1);
      i += ctrl + 1;
      o += ctrl + 1;
    } else {
      let n = ctrl >> 5;
      if (n === 7) n += input[i++]!;
      let ref = o - ((ctrl & 0x1f) << 8) - 1 - input[i++]!;
      if (ref < 0) throw new RdbError('corrupt LZF data');
      for (let k = 0; k < n + 2; k++) out[o++] = out[ref++]!;
    }
  }
  if (o !== length) throw new RdbError('corrupt LZF data (wrong length)');
  return out;
}

/** Moves the cursor past one value of RDB type `type`. */
export function skipValue(c: Cursor, type: number): void {
  switch (type) {
    case 0: // string
    case 9: // hash zipmap
    case 10: // list ziplist
    case 11: // set intset
    case 12: // zset ziplist
    case 13: // hash ziplist
    case 16: // hash listpack
    case 17: // zset listpack
    case 20: // set listpack
      c.skipString();
      return;
    case 1: // list of strings
    case 2: // set
    case 14: {
      // quicklist of ziplists
      for (let n = c.len(); n > 0; n--) c.skipString();
      return;
    }
    case 18: {
      // quicklist 2: container kind, then a plain string or a listpack
      for (let n = c.len(); n > 0; n--) {
        c.len();
        c.skipString();
      }
      return;
    }
    case 3: {
      // zset with scores as text
      for (let n = c.len(); n > 0; n--) {
        c.skipString();
        const score = c.byte();
        if (score < 253) c.skip(score);
      }
      return;
    }
    case 5: {
      // zset with binary scores
      for (let n = c.len(); n > 0; n--) {
        c.skipString();
        c.skip(8);
      }
      return;
    }
    case 4: {
      // hash of field, value
      for (let n = c.len(); n > 0; n--) {
        c.skipString();
        c.skipString();
      }
      return;
    }
    case 15:
    case 19:
    case 21:
      skipStream(c, type);
      return;
    // Hashes with field expirations (Redis 7.4+): 24 and 25 start with the smallest expiry (8 bytes); 22 and 24 hold
    // (ttl, field, value) triplets, 23 and 25 a listpack of them.
    case 24:
      c.skip(8);
    // falls through
    case 22:
      for (let n = c.len(); n > 0; n--) {
        c.len();
        c.skipString();
        c.skipString();
      }
      return;
    case 25:
      c.skip(8);
    // falls through
    case 23:
      c.skipString();
      return;
    case VALKEY_HASH_2: {
      // Valkey 9: field, value, expiry (8 bytes, ms; -1: none)
      for (let n = c.len(); n > 0; n--) {
        c.skipString();
        c.skipString();
        c.skip(8);
      }
      return;
    }
    case 6:
    case 7:
      throw new RdbError('a module type, which only the module that wrote it can read');
    default:
      throw new RdbError(`unknown value type ${type}`);
  }
}

function skipStream(c: Cursor, type: number): void {
  for (let n = c.len(); n > 0; n--) {
    c.skipString(); // master entry id
    c.skipString(); // listpack
  }
  c.len(); // length
  c.len(); // last id ms
  c.len(); // last id seq
  if (type >= 19) for (let k = 0; k < 5; k++) c.len(); // first id, max deleted id, entries added
  for (let groups = c.len(); groups > 0; groups--) {
    c.skipString(); // name
    c.len(); // last delivered id ms
    c.len(); // ... seq
    if (type >= 19) c.len(); // entries read
    for (let pending = c.len(); pending > 0; pending--) {
      c.skip(16 + 8); // id, delivery time
      c.len(); // delivery count
    }
    for (let consumers = c.len(); consumers > 0; consumers--) {
      c.skipString(); // name
      c.skip(type >= 21 ? 16 : 8); // seen time (and active time)
      for (let pending = c.len(); pending > 0; pending--) c.skip(16);
    }
  }
}
