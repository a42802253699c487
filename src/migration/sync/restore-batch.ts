/** A batch of snapshot keys as RESTORE commands, written straight into RESP (the hot path of a snapshot load). */
import { byteOfType } from '../../model/servers';
import { type Arg, digits, put, writeDigits, writeHeader } from '../../redis/bulk';
import { appendCrc64 } from './crc64';
import { dumpPayload } from './rdb';

/** One key of a snapshot to RESTORE: its name in the cluster, its RDB type and value encoding, its expiry. */
export interface Restore {
  key: Buffer;
  type: number;
  value: Buffer;
  expireAt: number;
}

const ascii = (text: string) => Buffer.from(text, 'latin1');
const HEAD = [ascii('*5\r\n$7\r\nRESTORE\r\n'), ascii('*6\r\n$7\r\nRESTORE\r\n')] as const;
const TAIL = [ascii('\r\n$7\r\nREPLACE\r\n'), ascii('\r\n$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n')] as const;
const CRLF = ascii('\r\n');
const ZERO_TTL = ascii('$1\r\n0\r\n');

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
  // Headers digit by digit and constant parts copied (bulk.ts): a string per header made this a hot spot of the load.
  for (const e of entries) {
    const expires = e.expireAt > 0 ? 1 : 0;
    at = put(out, at, HEAD[expires]);
    at = put(out, writeHeader(out, at, 36, e.key.length), e.key);
    at = put(out, at, CRLF);
    if (expires) {
      at = writeDigits(out, writeHeader(out, at, 36, digits(e.expireAt)), e.expireAt);
      at = put(out, at, CRLF);
    } else at = put(out, at, ZERO_TTL);
    at = writeHeader(out, at, 36, e.value.length + 11);
    const start = at;
    out[at++] = byteOfType(e.type);
    at = put(out, at, e.value);
    at = out.writeUInt16LE(rdbVersion, at);
    at = appendCrc64(out, start, at);
    at = put(out, at, TAIL[expires]);
  }
  if (at !== size) throw new Error(`RESTORE batch encoded to ${at} bytes, sized ${size}`);
  return out;
}
