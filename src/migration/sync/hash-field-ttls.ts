/**
 * Hashes with field expirations in the three forms servers write them, read and written again for another target:
 * Redis 7.4+ (types 22-25: expiries as lengths, absolute or after the smallest one, or in a listpack) and Valkey 9
 * (its type 22, VALKEY_HASH_2 here: field, value, expiry as 8 bytes). A field that expired already is left out.
 */
import { VALKEY_HASH_2 } from '../../model/servers';
import { Cursor, RdbError } from './rdb-encoding';
import type { RdbValue } from './downgrade';
import { encodeLength, listpackElements, rdbString } from './rdb-write';

interface HashField {
  field: Buffer;
  value: Buffer;
  /** Unix ms; 0: none. */
  expireAt: number;
}

const HASH = 4;
/** Redis's RDB_TYPE_HASH_METADATA: the smallest expiry (8 bytes), then (expiry after it + 1 or 0, field, value). */
const REDIS_HASH_METADATA = 24;

/** The fields of a hash with field expirations, without those that expired by `now`. */
export function hashFieldsOf(type: number, value: Buffer, now: number): HashField[] {
  const c = new Cursor(value, 0, 0);
  const fields: HashField[] = [];
  const keep = (field: Buffer, v: Buffer, expireAt: number) => {
    if (expireAt <= 0 || expireAt > now) fields.push({ field, value: v, expireAt: Math.max(expireAt, 0) });
  };
  if (type === VALKEY_HASH_2) {
    for (let n = c.len(); n > 0; n--) {
      const field = c.string();
      const v = c.string();
      keep(field, v, Number(c.bytes(8).readBigInt64LE(0)));
    }
    return fields;
  }
  const minExpire = type === 24 || type === 25 ? Number(c.bytes(8).readBigUInt64LE(0)) : 0;
  if (type === 22 || type === 24) {
    for (let n = c.len(); n > 0; n--) {
      const ttl = c.len();
      const field = c.string();
      const v = c.string();
      keep(field, v, ttl === 0 ? 0 : type === 24 ? ttl + minExpire - 1 : ttl);
    }
  } else if (type === 23 || type === 25) {
    const triplets = listpackElements(c.string());
    for (let i = 0; i + 2 < triplets.length; i += 3)
      keep(triplets[i]!, triplets[i + 1]!, Number(triplets[i + 2]!.toString()));
  } else throw new RdbError(`type ${type} is not a hash with field expirations`);
  return fields;
}

/** A plain hash (type 4) of these fields: their expirations are gone. */
function plainHash(fields: HashField[]): RdbValue {
  const parts = fields.flatMap((f) => [rdbString(f.field), rdbString(f.value)]);
  return { type: HASH, value: Buffer.concat([encodeLength(fields.length), ...parts]) };
}

/** The hash as Valkey 9 writes it (a plain hash when no field expires any more). */
function valkeyHash(fields: HashField[]): RdbValue {
  if (!fields.some((f) => f.expireAt > 0)) return plainHash(fields);
  const parts: Buffer[] = [encodeLength(fields.length)];
  for (const f of fields) {
    const expiry = Buffer.alloc(8);
    expiry.writeBigInt64LE(BigInt(f.expireAt > 0 ? f.expireAt : -1));
    parts.push(rdbString(f.field), rdbString(f.value), expiry);
  }
  return { type: VALKEY_HASH_2, value: Buffer.concat(parts) };
}

/** The hash as Redis 7.4+ writes a big one (type 24; a plain hash when no field expires any more). */
function redisHash(fields: HashField[]): RdbValue {
  const expiring = fields.filter((f) => f.expireAt > 0);
  if (expiring.length === 0) return plainHash(fields);
  const minExpire = Math.min(...expiring.map((f) => f.expireAt));
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(minExpire));
  const parts: Buffer[] = [head, encodeLength(fields.length)];
  for (const f of fields)
    parts.push(encodeLength(f.expireAt > 0 ? f.expireAt - minExpire + 1 : 0), rdbString(f.field), rdbString(f.value));
  return { type: REDIS_HASH_METADATA, value: Buffer.concat(parts) };
}

export type HashTtlForm = 'valkey' | 'redis' | 'none';

/**
 * A hash with field expirations in the form a target holds: Valkey's, Redis's, or (`none`: a target without field
 * expirations, only when they may be dropped) a plain hash, counting the expirations left out.
 */
export function hashForTarget(type: number, value: Buffer, form: HashTtlForm, now: number): RdbValue {
  const fields = hashFieldsOf(type, value, now);
  if (form === 'valkey') return valkeyHash(fields);
  if (form === 'redis') return redisHash(fields);
  return { ...plainHash(fields), droppedFieldTtls: fields.filter((f) => f.expireAt > 0).length };
}
