/**
 * RDB 80, as Valkey 9.1 saves it (test/fixtures/rdb/valkey9.rdb, from a real valkey-server): the parser rebuilds
 * each DUMP payload byte for byte, reads Valkey's type 22 as its own (not Redis's), and hashes with field expirations
 * move between Valkey's form and Redis's without losing one.
 */
import { createHash } from 'node:crypto';
import {
  VALKEY_HASH_2,
  acceptsRdbVersion,
  payloadVersionFor,
  replicaVersionFor,
  targetKnowsType,
} from '../../src/model/servers';
import { valueForTarget } from '../../src/migration/sync/downgrade';
import { hashFieldsOf } from '../../src/migration/sync/hash-field-ttls';
import { type RdbEvent, RdbParser, dumpPayload, rdbHeader } from '../../src/migration/sync/rdb';
import type { Write } from '../../src/migration/sync/rdb-unfold';
import { parseInChunks, rdbFixture } from '../fixtures/rdb/fixture';

const { rdb, expected } = rdbFixture('valkey9');
/** Before the fixture was made: every field expiry in it is still ahead. */
const BEFORE = 1_790_000_000_000;

type KeyEvent = Extract<RdbEvent, { kind: 'key' }>;

const keysOf = (size: number, options = {}) => parseInChunks(rdb, size, options);

test.each([rdb.length, 1000, 7])('RDB 80 in chunks of %i bytes: every DUMP payload exactly', (size) => {
  const { events, parser } = keysOf(size);
  expect(parser.done).toBe(true);
  expect(parser.version).toBe(80);
  const keys = events.filter((e): e is KeyEvent => e.kind === 'key');
  const built = keys.map((k) => ({
    db: k.db,
    key: k.key.toString('base64'),
    dump: createHash('sha1')
      .update(dumpPayload(k.type, k.value, parser.version))
      .digest('hex'),
    expireAt: k.expireAt,
  }));
  const order = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
  expect(built.sort(order)).toEqual([...expected].sort(order));
  const types = Object.fromEntries(keys.map((k) => [k.key.toString(), k.type]));
  expect(types['hash:ttl']).toBe(VALKEY_HASH_2);
  expect(types['hash:big']).toBe(VALKEY_HASH_2);
});

test('the header: magic and version go together', () => {
  expect(rdbHeader(Buffer.from('VALKEY080'))).toEqual({ magic: 'VALKEY', version: 80 });
  expect(rdbHeader(Buffer.from('REDIS0012'))).toEqual({ magic: 'REDIS', version: 12 });
  expect(rdbHeader(Buffer.from('KEYDB0012')).magic).toBeUndefined();
  expect(() => new RdbParser().push(Buffer.from('REDIS0080\xff'))).toThrow('under the magic REDIS');
});

test('a big Valkey hash unfolds into HSET and HPEXPIREAT, expired fields left out', () => {
  const { events } = keysOf(512, { unfoldBytes: 100, now: BEFORE });
  const start = events.findIndex((e) => e.kind === 'bigKey' && e.key.toString() === 'hash:big');
  expect(start).toBeGreaterThanOrEqual(0);
  const writes: Write[] = [];
  let at = start + 1;
  for (; events[at]!.kind === 'bigPiece'; at++) writes.push(...(events[at] as { writes: Write[] }).writes);
  expect(events[at]).toEqual({ kind: 'bigKeyEnd', fieldTtls: 3 });
  const hset = writes.filter((w) => w.command[0] === 'HSET').flatMap((w) => w.args);
  expect(hset.length).toBe(600);
  const expiring = writes.filter((w) => w.command[0] === 'HPEXPIREAT').map((w) => String(w.args[3]));
  expect(expiring.sort()).toEqual(['field-0', 'field-299', 'field-7']);
  // Later than every expiry, those three fields are gone.
  const later = keysOf(512, { unfoldBytes: 100, now: Number.MAX_SAFE_INTEGER }).events;
  const big = later.slice(later.findIndex((e) => e.kind === 'bigKey' && e.key.toString() === 'hash:big'));
  expect(big.find((e) => e.kind === 'bigKeyEnd')).toEqual({ kind: 'bigKeyEnd', fieldTtls: 0 });
});

test('field expirations between Valkey and Redis: the same fields and expiries both ways, dropped only on request', () => {
  const key = keysOf(rdb.length)
    .events.filter((e): e is KeyEvent => e.kind === 'key')
    .find((k) => k.key.toString() === 'hash:ttl')!;
  const fields = hashFieldsOf(VALKEY_HASH_2, key.value, BEFORE);
  expect(fields.map((f) => [String(f.field), String(f.value), f.expireAt > 0])).toEqual(
    expect.arrayContaining([
      ['a', '1', true],
      ['b', '2', false],
      ['c', '3', true],
    ]),
  );
  // Into Redis 8.2 (RDB 12): its type 24; and back into Valkey 9 (RDB 80).
  const redis = valueForTarget(VALKEY_HASH_2, key.value, 12, { now: BEFORE })!;
  expect(redis.type).toBe(24);
  expect(hashFieldsOf(24, redis.value, BEFORE)).toEqual(fields);
  const valkey = valueForTarget(24, redis.value, 80, { now: BEFORE })!;
  expect(valkey.type).toBe(VALKEY_HASH_2);
  expect(hashFieldsOf(VALKEY_HASH_2, valkey.value, BEFORE)).toEqual(fields);
  expect(valueForTarget(VALKEY_HASH_2, key.value, 80)).toEqual({ type: VALKEY_HASH_2, value: key.value });
  // Into Valkey 8.1 (RDB 11): no form, unless the expirations may go.
  expect(valueForTarget(VALKEY_HASH_2, key.value, 11, { now: BEFORE })).toBeUndefined();
  const plain = valueForTarget(VALKEY_HASH_2, key.value, 11, { now: BEFORE, dropHashFieldTtls: true })!;
  expect(plain).toMatchObject({ type: 4, droppedFieldTtls: 2 });
});

test('which payload versions each server restores, and what a replica of ours says to a source', () => {
  expect(acceptsRdbVersion(80, 11)).toBe(true);
  expect(acceptsRdbVersion(80, 12)).toBe(false); // Valkey 9 refuses Redis 7.4+'s payloads
  expect(acceptsRdbVersion(12, 80)).toBe(false);
  expect(acceptsRdbVersion(12, 9)).toBe(true);
  expect(payloadVersionFor(80, 12)).toBe(80);
  expect(payloadVersionFor(10, 80)).toBe(10);
  expect(payloadVersionFor(80, 9)).toBe(9);
  expect(targetKnowsType({ rdbVersion: 80 }, 24)).toBe(false);
  expect(targetKnowsType({ rdbVersion: 12 }, VALKEY_HASH_2)).toBe(false);
  expect(targetKnowsType({ rdbVersion: 80 }, 21)).toBe(true);
  expect(replicaVersionFor({ engine: 'valkey', version: '9.1.2' })).toBe('9.1.2');
  expect(replicaVersionFor({ engine: 'valkey', version: '8.1.8' })).toBeUndefined();
  expect(replicaVersionFor({ engine: 'redis', version: '8.2.3' })).toBeUndefined();
});
