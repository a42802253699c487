/** Values re-encoded for an older target: listpack elements of every encoding, set listpacks as plain sets. */
import { listpackElements, valueForTarget } from '../../src/migration/sync/downgrade';

/** A listpack of the given entries (encoding and data, each followed by its one-byte back length). */
function listpack(entries: Buffer[]): Buffer {
  const body = Buffer.concat(entries.map((e) => Buffer.concat([e, Buffer.from([e.length])])));
  const header = Buffer.alloc(6);
  header.writeUInt32LE(6 + body.length + 1, 0);
  header.writeUInt16LE(entries.length, 4);
  return Buffer.concat([header, body, Buffer.from([0xff])]);
}

const int16 = (n: number) => {
  const b = Buffer.alloc(3);
  b[0] = 0xf1;
  b.writeInt16LE(n, 1);
  return b;
};

test('listpack elements: 7-bit, 13-bit negative, 16-bit integers and short strings', () => {
  const lp = listpack([
    Buffer.from([5]),
    Buffer.from([0xc0 | 0x1f, 0xff]), // 13-bit -1
    int16(-300),
    Buffer.concat([Buffer.from([0x80 | 3]), Buffer.from('red')]),
  ]);
  expect(listpackElements(lp).map(String)).toEqual(['5', '-1', '-300', 'red']);
});

test('a set listpack becomes a plain set for a target of RDB 10; a type it knows is left alone', () => {
  const lp = listpack([Buffer.concat([Buffer.from([0x80 | 2]), Buffer.from('ab')]), Buffer.from([9])]);
  const value = Buffer.concat([Buffer.from([lp.length]), lp]); // an RDB string of the listpack
  expect(valueForTarget(20, value, 10)).toEqual({ type: 2, value: Buffer.from([2, 2, 0x61, 0x62, 1, 0x39]) });
  expect(valueForTarget(20, value, 11)).toEqual({ type: 20, value });
  expect(valueForTarget(24, value, 11)).toBeUndefined();
});
