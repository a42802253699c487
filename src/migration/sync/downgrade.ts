/**
 * RDB values re-encoded for a target of an older RDB version, with the same meaning. A type the target knows is sent
 * as it is (only the payload's version changes); a set listpack (Redis 7.2+, Valkey) becomes a plain set, and a
 * stream of version 3 (7.2+: consumers with an active time) a stream of version 2. Anything else has no older form.
 */
import { HASH_FIELD_TTL_TYPES, VALKEY_HASH_2, highestTypeOf, targetKnowsType } from '../../model/servers';
import { hashForTarget } from './hash-field-ttls';
import { Cursor } from './rdb-encoding';
import { encodeLength, listpackElements, rdbString } from './rdb-write';

export { listpackElements } from './rdb-write';

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

/**
 * The value as a type a server of `targetRdb` knows (by neutral type id: servers.ts); undefined when it has no form
 * there. Hashes with field expirations move between Redis's form and Valkey's, and lose their expirations only on
 * request, on a target that has none.
 */
export function valueForTarget(
  type: number,
  value: Buffer,
  targetRdb: number,
  options: DowngradeOptions = {},
): RdbValue | undefined {
  const target = { rdbVersion: targetRdb };
  if (targetKnowsType(target, type)) return { type, value };
  const now = options.now ?? Date.now();
  if (HASH_FIELD_TTL_TYPES.has(type)) {
    if (targetKnowsType(target, VALKEY_HASH_2)) return hashForTarget(type, value, 'valkey', now);
    if (targetKnowsType(target, 24)) return hashForTarget(type, value, 'redis', now);
    return options.dropHashFieldTtls ? hashForTarget(type, value, 'none', now) : undefined;
  }
  const highest = highestTypeOf(targetRdb);
  if (type === SET_LISTPACK) return { type: SET, value: setFromListpack(value) };
  if (type === STREAM_LISTPACKS_3 && highest >= STREAM_LISTPACKS_2)
    return { type: STREAM_LISTPACKS_2, value: streamWithoutActiveTimes(value) };
  return undefined;
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
