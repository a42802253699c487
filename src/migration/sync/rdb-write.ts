/** Writing RDB encodings (lengths, strings) and reading listpacks: shared by the value conversions. */
import { RdbError } from './rdb-encoding';

/** An RDB length (the 6-, 14-, 32- or 64-bit forms). */
export function encodeLength(n: number): Buffer {
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

export const rdbString = (s: Buffer) => Buffer.concat([encodeLength(s.length), s]);

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
