/**
 * Big keys and payloads the target rejects: the value is read type by type in pieces and built under a temporary
 * key in the same slot, then renamed into place, so that readers never see half a value.
 */
import calculateSlot from 'cluster-key-slot';
import { printableKey } from '../redis/digest';
import { heartbeat } from '../runtime/context';
import type { CopyContext } from './copy';
import { targetKey } from './sources';

/** A temporary key in the same slot as `key`, or undefined when the name leaves no way to make one. */
function temporaryKeyFor(key: Buffer): Buffer | undefined {
  const slot = calculateSlot(key);
  for (const candidate of [
    Buffer.concat([key, Buffer.from('.rco-tmp')]),
    Buffer.concat([Buffer.from('{'), key, Buffer.from('}.rco-tmp')]),
  ])
    if (calculateSlot(candidate) === slot) return candidate;
  return undefined;
}

/**
 * Big keys and payloads the target rejects: read the value type by type in pieces, build it under a temporary
 * key in the same slot, then RENAME it into place, so that readers never see half a value.
 */
export async function copyPieceByPiece(ctx: CopyContext, key: Buffer, expireAt: number): Promise<void> {
  const destination = targetKey(ctx.shard, key);
  const tmp = temporaryKeyFor(destination) ?? destination;
  const target = await ctx.map.client(ctx.map.ownerOf(destination));
  const src = ctx.source;
  const type = await src.type(key);
  await target.del(tmp);
  const scanInto = async (command: 'HSCAN' | 'SSCAN' | 'ZSCAN', write: (items: Buffer[]) => Promise<unknown>) => {
    let cursor = '0';
    do {
      const [next, items] = (await src.callBuffer(command, key, cursor, 'COUNT', '1000')) as [Buffer, Buffer[]];
      cursor = next.toString();
      if (items.length > 0) await write(items);
      heartbeat();
    } while (cursor !== '0');
  };
  switch (type) {
    case 'hash':
      await scanInto('HSCAN', (items) => target.callBuffer('HSET', tmp, ...items));
      break;
    case 'set':
      await scanInto('SSCAN', (items) => target.callBuffer('SADD', tmp, ...items));
      break;
    case 'zset':
      await scanInto('ZSCAN', (items) => {
        const args: Buffer[] = [];
        for (let i = 0; i < items.length; i += 2) args.push(items[i + 1]!, items[i]!);
        return target.callBuffer('ZADD', tmp, ...args);
      });
      break;
    case 'list': {
      const length = await src.llen(key);
      for (let start = 0; start < length; start += 1000) {
        const items = (await src.callBuffer('LRANGE', key, String(start), String(start + 999))) as Buffer[];
        if (items.length > 0) await target.callBuffer('RPUSH', tmp, ...items);
      }
      break;
    }
    case 'string': {
      const length = await src.strlen(key);
      await target.set(tmp, '');
      for (let start = 0; start < length; start += 1 << 20) {
        const piece = (await src.callBuffer(
          'GETRANGE',
          key,
          String(start),
          String(Math.min(start + (1 << 20), length) - 1),
        )) as Buffer;
        await target.callBuffer('APPEND', tmp, piece);
      }
      break;
    }
    case 'stream': {
      let start = '-';
      for (;;) {
        const entries = (await src.callBuffer('XRANGE', key, start, '+', 'COUNT', '1000')) as [Buffer, Buffer[]][];
        for (const [id, fields] of entries) await target.callBuffer('XADD', tmp, id, ...fields);
        if (entries.length < 1000) break;
        start = `(${entries[entries.length - 1]![0].toString()}`;
      }
      const info = (await src.call('XINFO', 'STREAM', key)) as unknown[];
      const lastId = String(info[info.indexOf('last-generated-id') + 1]);
      if ((await target.exists(tmp)) === 0)
        await target.call('XADD', tmp, 'MAXLEN', '0', lastId === '0-0' ? '*' : lastId, 'x', 'x');
      await target.call('XSETID', tmp, lastId);
      // Groups and their last delivered ids are carried; their pending entries are not (they name consumers).
      for (const group of (await src.call('XINFO', 'GROUPS', key)) as unknown[][]) {
        const name = String(group[group.indexOf('name') + 1]);
        const delivered = String(group[group.indexOf('last-delivered-id') + 1]);
        await target.call('XGROUP', 'CREATE', tmp, name, delivered);
      }
      break;
    }
    default:
      ctx.counters.failed++;
      ctx.failedKeys.push(`${printableKey(key)}: type ${type} cannot be copied piece by piece`);
      return;
  }
  if (tmp !== destination) await target.callBuffer('RENAME', tmp, destination);
  if (expireAt > 0) await target.callBuffer('PEXPIREAT', destination, String(expireAt));
  ctx.counters.copied++;
}
