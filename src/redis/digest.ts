/** A type-aware digest of a key's value, equal for equal values whatever their internal encoding. */
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

function sortBuffers(items: Buffer[]): Buffer[] {
  return items.sort(Buffer.compare);
}

function pairs(flat: Buffer[]): Buffer[][] {
  const result: Buffer[][] = [];
  for (let i = 0; i < flat.length; i += 2) result.push([flat[i]!, flat[i + 1]!]);
  return result;
}

export interface KeyDigest {
  type: string;
  digest: string;
  /** Absolute expiry in ms since the epoch, or -1 without TTL, or -2 when the key does not exist. */
  expireAt: number;
}

export async function digestKey(client: Redis, key: Buffer): Promise<KeyDigest> {
  // Read together: a key expiring between two separate reads looked like a string without an expiry, so a caller
  // could not tell "expiring now" from "missing on the other side".
  const replies = (await client.multi().type(key).call('PEXPIRETIME', key).exec()) ?? [];
  const failed = replies.find(([error]) => error)?.[0];
  if (failed || replies.length !== 2) throw failed ?? new Error('TYPE and PEXPIRETIME: the transaction was aborted');
  const type = String(replies[0]![1]);
  const expireAt = Number(replies[1]![1]);
  const hash = createHash('sha1');
  const add = (items: Buffer[]) => items.forEach((b) => hash.update(String(b.length)).update(':').update(b));
  switch (type) {
    case 'none':
      return { type, digest: '', expireAt: -2 };
    case 'string':
      add([(await client.getBuffer(key)) ?? Buffer.alloc(0)]);
      break;
    case 'hash':
      add(
        sortBuffers(
          pairs((await client.callBuffer('HGETALL', key)) as Buffer[]).map((p) =>
            Buffer.concat([p[0]!, Buffer.from([0]), p[1]!]),
          ),
        ),
      );
      break;
    case 'set':
      add(sortBuffers((await client.callBuffer('SMEMBERS', key)) as Buffer[]));
      break;
    case 'zset':
      add((await client.callBuffer('ZRANGE', key, '0', '-1', 'WITHSCORES')) as Buffer[]);
      break;
    case 'list':
      add((await client.callBuffer('LRANGE', key, '0', '-1')) as Buffer[]);
      break;
    case 'stream': {
      const entries = (await client.callBuffer('XRANGE', key, '-', '+')) as [Buffer, Buffer[]][];
      for (const [id, fields] of entries) add([id, ...fields]);
      const groups = (await client.call('XINFO', 'GROUPS', key)) as unknown[][];
      for (const group of groups) {
        const info = new Map<string, unknown>();
        for (let i = 0; i < group.length; i += 2) info.set(String(group[i]), group[i + 1]);
        hash.update(`group:${String(info.get('name'))}:${String(info.get('last-delivered-id'))}`);
      }
      break;
    }
    default:
      add([((await client.callBuffer('DUMP', key)) as Buffer | null) ?? Buffer.alloc(0)]);
  }
  return { type, digest: hash.digest('hex'), expireAt };
}

/** A key name fit for a report: UTF-8 when it is, else hex. */
export function printableKey(key: Buffer): string {
  const text = key.toString('utf8');
  return Buffer.from(text, 'utf8').equals(key) ? text : `0x${key.toString('hex')}`;
}
