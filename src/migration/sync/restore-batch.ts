/** A batch of snapshot keys as RESTORE commands, written straight into RESP (the hot path of a snapshot load). */
import { byteOfType } from '../../model/servers';
import type { Arg } from '../../redis/bulk';
import { crc64 } from './crc64';
import { dumpPayload } from './rdb';

/** One key of a snapshot to RESTORE: its name in the cluster, its RDB type and value encoding, its expiry. */
export interface Restore {
  key: Buffer;
  type: number;
  value: Buffer;
  expireAt: number;
}

const digits = (n: number) => String(n).length;

/** RESTORE key ttl payload REPLACE [ABSTTL], as a command (to send one again after a redirection). */
export function restoreCommand(r: Restore, rdbVersion: number): Arg[] {
  const command: Arg[] = [
    'RESTORE',
    r.key,
    r.expireAt > 0 ? r.expireAt : 0,
    dumpPayload(r.type, r.value, rdbVersion),
    'REPLACE',
  ];
  if (r.expireAt > 0) command.push('ABSTTL');
  return command;
}

/**
 * The RESTORE commands of a batch, written straight into one buffer: each DUMP payload (type, value, RDB version)
 * is laid where it is sent and its CRC computed there, without a copy or an argument list per key.
 */
export function encodeRestores(entries: Restore[], rdbVersion: number): Buffer {
  let size = 0;
  for (const e of entries) {
    const ttl = e.expireAt > 0 ? digits(e.expireAt) : 1;
    const payload = e.value.length + 11;
    size += 4 + 13 + (5 + digits(e.key.length) + e.key.length) + (5 + digits(ttl) + ttl);
    size += 5 + digits(payload) + payload + 13 + (e.expireAt > 0 ? 12 : 0);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const e of entries) {
    const ttl = e.expireAt > 0 ? String(e.expireAt) : '0';
    at += out.write(`*${e.expireAt > 0 ? 6 : 5}\r\n$7\r\nRESTORE\r\n$${e.key.length}\r\n`, at, 'latin1');
    at += e.key.copy(out, at);
    at += out.write(`\r\n$${ttl.length}\r\n${ttl}\r\n$${e.value.length + 11}\r\n`, at, 'latin1');
    const start = at;
    out[at++] = byteOfType(e.type);
    at += e.value.copy(out, at);
    at = out.writeUInt16LE(rdbVersion, at);
    at += crc64(out.subarray(start, at)).copy(out, at);
    at += out.write(e.expireAt > 0 ? '\r\n$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n' : '\r\n$7\r\nREPLACE\r\n', at, 'latin1');
  }
  if (at !== size) throw new Error(`RESTORE batch encoded to ${at} bytes, sized ${size}`);
  return out;
}
