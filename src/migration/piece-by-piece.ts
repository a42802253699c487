/**
 * Big keys and payloads the target rejects: the value is read type by type in pieces and built under a temporary
 * key in the same slot, then renamed into place, so that readers never see half a value.
 */
import { printableKey } from '../redis/compare';
import { fail, heartbeat } from '../runtime/context';
import { ErrorType, describeServer } from '../model';
import { capabilitiesOf } from '../redis/servers';
import type Redis from 'ioredis';
import type { CopyContext } from './copy';
import { rebuildStream } from './rebuild-stream';
import { targetKey } from './sources';
import { type Send, buildInPieces, isPiecewise, temporaryKeyFor } from '../redis/build-in-pieces';

/**
 * Big keys and payloads the target rejects: read the value type by type in pieces, build it under a temporary
 * key in the same slot, then RENAME it into place, so that readers never see half a value.
 */
export async function copyPieceByPiece(ctx: CopyContext, key: Buffer, expireAt: number): Promise<void> {
  const destination = targetKey(ctx.shard, key);
  const tmp = temporaryKeyFor(destination) ?? destination;
  const owner = ctx.map.ownerOf(destination);
  const target = await ctx.map.client(owner);
  const src = ctx.source;
  const type = await src.type(key);
  await target.del(tmp);
  // Pieces go on lean connections (bulk.ts): ioredis encodes each of a piece's thousands of arguments on its own,
  // which made a 300,000-field hash a third of a snapshot copy's time.
  const read: Send = (await ctx.sourceBulk.get()).call;
  const write: Send = (await ctx.map.bulk(owner)).call;
  if (isPiecewise(type))
    await buildInPieces(read, key, type, write, tmp, {
      onHash: (items) => copyFieldTtls(ctx, key, target, tmp, items),
      onPiece: () => heartbeat(),
    });
  else if (type === 'stream') await rebuildStream(src, key, target, tmp, () => heartbeat());
  else {
    ctx.counters.failed++;
    ctx.failedKeys.push(`${printableKey(key)}: type ${type} cannot be copied piece by piece`);
    return;
  }
  if (tmp !== destination) await target.callBuffer('RENAME', tmp, destination);
  if (expireAt > 0) await target.callBuffer('PEXPIREAT', destination, String(expireAt));
  ctx.counters.copied++;
}

/**
 * Hash field expirations (Redis 7.4+) of one piece of fields: set on the target field by field where it has them;
 * where it has none, the run is refused at this key unless the spec lets them be dropped (they are counted then).
 */
async function copyFieldTtls(
  ctx: CopyContext,
  key: Buffer,
  target: Redis,
  tmp: Buffer,
  items: Buffer[],
): Promise<void> {
  const from = await capabilitiesOf(ctx.source);
  if (!from.hashFieldTtl) return;
  const fields = items.filter((_, i) => i % 2 === 0);
  const expiries = (await ctx.source.call('HPEXPIRETIME', key, 'FIELDS', fields.length, ...fields)) as number[];
  const expiring = fields.map((field, i) => [field, expiries[i]!] as const).filter(([, at]) => at > 0);
  if (expiring.length === 0) return;
  const to = await capabilitiesOf(target);
  if (!to.hashFieldTtl) {
    if (!ctx.migration.dropHashFieldTtls) {
      await target.del(tmp);
      fail(
        ErrorType.UnsupportedData,
        `key ${printableKey(key)} of migration source ${ctx.shard.id} (${describeServer(from)}) has hash field expirations, which the target (${describeServer(to)}) cannot hold; nothing of it was written. Set migration.dropHashFieldTtls to copy such hashes without their field expirations`,
      );
    }
    ctx.counters.fieldTtlsDropped = (ctx.counters.fieldTtlsDropped ?? 0) + expiring.length;
    return;
  }
  const pipeline = target.pipeline();
  for (const [field, at] of expiring) pipeline.call('HPEXPIREAT', tmp, String(at), 'FIELDS', '1', field);
  await pipeline.exec();
}
