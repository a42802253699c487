/**
 * The RDB parser against a file a real Redis 7.0 saved (test/fixtures/rdb): every DUMP payload it builds must be
 * byte for byte the one that server's DUMP gave, whatever the chunk sizes the file arrives in.
 */
import { createHash } from 'node:crypto';
import { crc64 } from '../../src/migration/sync/crc64';
import { type RdbEvent, RdbError, RdbParser, dumpPayload, lzfDecompress } from '../../src/migration/sync/rdb';
import { parseInChunks, rdbFixture } from '../fixtures/rdb/fixture';
import { encodeRestores } from '../../src/migration/sync/restore-batch';
import { encodeCommands } from '../../src/redis/bulk';

const { rdb, expected } = rdbFixture('every-type');

test('CRC-64/Jones: the check value Redis tests for', () => {
  expect(crc64(Buffer.from('123456789')).readBigUInt64LE(0).toString(16)).toBe('e9c6d914c4b8d9ca');
  expect(crc64(Buffer.from('1234'), Buffer.from('56789'))).toEqual(crc64(Buffer.from('123456789')));
});

test.each([rdb.length, 65_536, 1000, 7])(
  'every key, in chunks of %i bytes: the exact DUMP payload and expiry',
  (size) => {
    const { events, parser } = parseInChunks(rdb, size);
    expect(parser.done).toBe(true);
    expect(parser.version).toBe(10);
    const keys = events.filter((e): e is Extract<RdbEvent, { kind: 'key' }> => e.kind === 'key');
    const built = keys
      .map((k) => ({
        db: k.db,
        key: k.key.toString('base64'),
        dump: createHash('sha1')
          .update(dumpPayload(k.type, k.value, parser.version))
          .digest('hex'),
        expireAt: k.expireAt,
      }))
      .sort((a, b) => (a.db - b.db) * 1e9 + a.key.localeCompare(b.key));
    const want = [...expected].sort((a, b) => (a.db - b.db) * 1e9 + a.key.localeCompare(b.key));
    expect(built).toEqual(want);
    expect(events.filter((e) => e.kind === 'function').map((e) => String((e as { code: Buffer }).code))).toEqual([
      expect.stringContaining('#!lua name=fixturelib'),
    ]);
    expect(events.find((e) => e.kind === 'aux' && e.name === 'redis-ver')).toMatchObject({ value: '7.0.15' });
    expect(events[events.length - 1]).toEqual({ kind: 'end' });
  },
);

test('bytes after the end are kept for what follows (the replication stream)', () => {
  const parser = new RdbParser();
  parser.push(Buffer.concat([rdb, Buffer.from('*1\r\n$4\r\nPING\r\n')]));
  expect(parser.done).toBe(true);
  expect(parser.rest().toString()).toBe('*1\r\n$4\r\nPING\r\n');
});

test('a module type is refused, naming the key', () => {
  // Header, then a key of type 7 (module 2).
  const bytes = Buffer.concat([Buffer.from('REDIS0010'), Buffer.from([7, 3]), Buffer.from('mod'), Buffer.from([1, 2])]);
  expect(() => new RdbParser().push(bytes)).toThrow(RdbError);
  expect(() => new RdbParser().push(bytes)).toThrow('key "mod" (type module): a module type');
});

test('LZF: literal runs and back references', () => {
  // "abcabcabc": literal "abc" (ctrl 2), then a back reference of length 6 to offset 3.
  expect(lzfDecompress(Buffer.from([2, 0x61, 0x62, 0x63, (4 << 5) | 0, 2]), 9).toString()).toBe('abcabcabc');
});

test('RESTORE commands written in place are exactly the generic encoding of the same commands', () => {
  const { events, parser } = parseInChunks(rdb, 65_536);
  const keys = events.filter((e): e is Extract<RdbEvent, { kind: 'key' }> => e.kind === 'key');
  const entries = keys.map((k) => ({ key: k.key, type: k.type, value: k.value, expireAt: k.expireAt }));
  const generic = encodeCommands(
    entries.map((e) => [
      'RESTORE',
      e.key,
      e.expireAt > 0 ? e.expireAt : 0,
      dumpPayload(e.type, e.value, parser.version),
      'REPLACE',
      ...(e.expireAt > 0 ? ['ABSTTL'] : []),
    ]),
  );
  expect(encodeRestores(entries, parser.version).equals(generic)).toBe(true);
});
