/**
 * RDB values re-encoded for a target of an older RDB version, with the same meaning. A type the target knows is sent
 * as it is (only the payload's version changes); a set listpack (Redis 7.2+, Valkey) becomes a plain set, and a
 * stream of version 3 (7.2+: consumers with an active time) a stream of version 2. Anything else has no older form.
 */
import { HASH_FIELD_TTL_TYPES, highestTypeOf } from '../../model/servers';
import { Cursor, RdbError } from './rdb-encoding';

export interface RdbValue {
  type: number;
  value: Buffer;
  /** Hash field expirations left out (only with `dropHashFieldTtls`). */
  droppedFieldTtls?: number;
}

export interface DowngradeOptions {
  /** A hash with field expirations becomes a plain hash without them (fields already expired left out). */
  dropHashFieldTtls?: boolean;
  /** Now, in ms: fields that expired by then are not carried. */
  now?: number;
}

const SET = 2;
const SET_LISTPACK = 20;
const STREAM_LISTPACKS_2 = 19;
const STREAM_LISTPACKS_3 = 21;

/** The value as a type a server of `targetRdb` knows; undefined when it has no older form. */
export function valueForTarget(
  type: number,
  value: Buffer,
  targetRdb: number,
  options: DowngradeOptions = {},
): RdbValue | undefined {
  const highest = highestTypeOf(targetRdb);
  if (type <= highest) return { type, value };
  if (HASH_FIELD_TTL_TYPES.has(type))
    return options.dropHashFieldTtls ? hashWithoutFieldTtls(type, value, options.now ?? Date.now()) : undefined;
  if (type === SET_LISTPACK) return { type: SET, value: setFromListpack(value) };
  if (type === STREAM_LISTPACKS_3 && highest >= STREAM_LISTPACKS_2)
    return { type: STREAM_LISTPACKS_2, value: streamWithoutActiveTimes(value) };
  return undefined;
}

/** An RDB length (the 6-, 14-, 32- or 64-bit forms). */
function encodeLength(n: number): Buffer {
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  if (n <= 0xffffffff) {
    const out = Buffer.alloc(5);
    out[0] = 0x80;
    out.writeUInt32BE(n, 1);
    return out;
  }
  const out = Buffer.alloc(9);
  out[0] = 0x81;
  out.writeBigUInt64BE(BigInt(n), 1);
  return out;
}

const rdbString = (s: Buffer) => Buffer.concat([encodeLength(s.length), s]);

/** The elements of a listpack (strings and integers, integers as their decimal text). */
export function listpackElements(lp: Buffer): Buffer[] {
  const elements: Buffer[] = [];
  let at = 6; // total bytes (4), element count (2)
  for (;;) {
    const first = lp[at];
    if (first === undefined) throw new RdbError('listpack ends without its end byte');
    if (first === 0xff) return elements;
    let size: number; // encoding and data, without the back length
    if ((first & 0x80) === 0) {
      elements.push(Buffer.from(String(first & 0x7f)));
      size = 1;
    } else if ((first & 0xc0) === 0x80) {
      const length = first & 0x3f;
      elements.push(lp.subarray(at + 1, at + 1 + length));
      size = 1 + length;
    } else if ((first & 0xe0) === 0xc0) {
      const raw = ((first & 0x1f) << 8) | lp[at + 1]!;
      elements.push(Buffer.from(String(raw >= 4096 ? raw - 8192 : raw)));
      size = 2;
    } else if ((first & 0xf0) === 0xe0) {
      const length = ((first & 0x0f) << 8) | lp[at + 1]!;
      elements.push(lp.subarray(at + 2, at + 2 + length));
      size = 2 + length;
    } else if (first === 0xf0) {
      const length = lp.readUInt32LE(at + 1);
      elements.push(lp.subarray(at + 5, at + 5 + length));
      size = 5 + length;
    } else if (first === 0xf1) {
      elements.push(Buffer.from(String(lp.readInt16LE(at + 1))));
      size = 3;
    } else if (first === 0xf2) {
      elements.push(Buffer.from(String(lp.readIntLE(at + 1, 3))));
      size = 4;
    } else if (first === 0xf3) {
      elements.push(Buffer.from(String(lp.readInt32LE(at + 1))));
      size = 5;
    } else if (first === 0xf4) {
      elements.push(Buffer.from(String(lp.readBigInt64LE(at + 1))));
      size = 9;
    } else throw new RdbError(`unknown listpack encoding 0x${first.toString(16)}`);
    const backlen = size < 128 ? 1 : size < 16384 ? 2 : size < 2097152 ? 3 : size < 268435456 ? 4 : 5;
    at += size + backlen;
  }
}

/** A set listpack (one RDB string) as a plain set: the count, then each member as an RDB string. */
function setFromListpack(value: Buffer): Buffer {
  const lp = new Cursor(value, 0, 0).string();
  const members = listpackElements(lp);
  return Buffer.concat([encodeLength(members.length), ...members.map(rdbString)]);
}

/**
 * A version 3 stream as version 2: the same bytes without each consumer's active time (the 8 bytes after its seen
 * time). Walks the layout that skipStream in rdb-encoding.ts walks.
 */
function streamWithoutActiveTimes(value: Buffer): Buffer {
  const c = new Cursor(value, 0, 0);
  const parts: Buffer[] = [];
  let copiedTo = 0;
  for (let n = c.len(); n > 0; n--) {
    c.skipString();
    c.skipString();
  }
  c.len();
  c.len();
  c.len();
  for (let k = 0; k < 5; k++) c.len();
  for (let groups = c.len(); groups > 0; groups--) {
    c.skipString();
    c.len();
    c.len();
    c.len();
    for (let pending = c.len(); pending > 0; pending--) {
      c.skip(16 + 8);
      c.len();
    }
    for (let consumers = c.len(); consumers > 0; consumers--) {
      c.skipString();
      c.skip(8); // seen time
      parts.push(value.subarray(copiedTo, c.pos));
      c.skip(8); // active time: not in version 2
      copiedTo = c.pos;
      for (let pending = c.len(); pending > 0; pending--) c.skip(16);
    }
  }
  parts.push(value.subarray(copiedTo));
  return Buffer.concat(parts);
}

const HASH = 4;

/**
 * A hash with field expirations (types 22-25) as a plain hash: its fields and values, without their expirations;
 * a field already expired is left out. Types 24 and 25 keep relative expiries after the smallest one, 22 and 23
 * absolute ones (0: none).
 */
function hashWithoutFieldTtls(type: number, value: Buffer, now: number): RdbValue {
  const c = new Cursor(value, 0, 0);
  const minExpire = type === 24 || type === 25 ? Number(c.bytes(8).readBigUInt64LE(0)) : 0;
  const kept: Buffer[] = [];
  let dropped = 0;
  const keep = (field: Buffer, v: Buffer, expireAt: number) => {
    if (expireAt > 0 && expireAt <= now) return;
    if (expireAt > 0) dropped++;
    kept.push(rdbString(field), rdbString(v));
  };
  if (type === 22 || type === 24) {
    for (let n = c.len(); n > 0; n--) {
      const ttl = c.len();
      const field = c.string();
      const v = c.string();
      keep(field, v, ttl === 0 ? 0 : type === 24 ? ttl + minExpire - 1 : ttl);
    }
  } else {
    const triplets = listpackElements(c.string());
    for (let i = 0; i + 2 < triplets.length; i += 3)
      keep(triplets[i]!, triplets[i + 1]!, Number(triplets[i + 2]!.toString()));
  }
  return { type: HASH, value: Buffer.concat([encodeLength(kept.length / 2), ...kept]), droppedFieldTtls: dropped };
}
