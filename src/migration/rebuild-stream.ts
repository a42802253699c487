/**
 * A stream rebuilt by commands, piece by piece, when its payload cannot be restored: its entries, its last id and
 * counters, and every consumer group with its last delivered id, entries read, consumers and pending entries (owner,
 * delivery count, idle time). XADD alone would lose all of the consumer state.
 */
import type Redis from 'ioredis';
import { fieldsOf } from '../redis/compare-streams';
import { capabilitiesOf } from '../redis/servers';

const PIECE = 1000;

async function execAll(pipeline: ReturnType<Redis['pipeline']>, what: string): Promise<void> {
  for (const [error] of (await pipeline.exec()) ?? []) if (error) throw new Error(`${what}: ${error.message}`);
}

/** Builds `key` of `source` as `into` on `target` (which must not exist yet); `onPiece` after each piece. */
export async function rebuildStream(
  source: Redis,
  key: Buffer,
  target: Redis,
  into: Buffer,
  onPiece: () => void,
): Promise<void> {
  const [from, to] = await Promise.all([capabilitiesOf(source), capabilitiesOf(target)]);
  const counters = from.streamCounters && to.streamCounters;
  let start = '-';
  for (;;) {
    const entries = (await source.callBuffer('XRANGE', key, start, '+', 'COUNT', PIECE)) as [Buffer, Buffer[]][];
    if (entries.length > 0) {
      const pipeline = target.pipeline();
      for (const [id, fields] of entries) pipeline.callBuffer('XADD', into, id, ...fields);
      await execAll(pipeline, 'XADD');
    }
    onPiece();
    if (entries.length < PIECE) break;
    start = `(${entries[entries.length - 1]![0].toString()}`;
  }
  const info = fieldsOf((await source.call('XINFO', 'STREAM', key)) as unknown[]);
  const lastId = String(info.get('last-generated-id'));
  if ((await target.exists(into)) === 0) {
    // An empty stream (every entry deleted, or none added yet): MKSTREAM through a group made and dropped at once.
    await target.call('XGROUP', 'CREATE', into, 'rco-tmp', '0', 'MKSTREAM');
    await target.call('XGROUP', 'DESTROY', into, 'rco-tmp');
  }
  const added = counters
    ? ['ENTRIESADDED', String(info.get('entries-added')), 'MAXDELETEDID', String(info.get('max-deleted-entry-id'))]
    : [];
  if (lastId !== '0-0' || counters) await target.callBuffer('XSETID', into, lastId, ...added);

  for (const group of ((await source.call('XINFO', 'GROUPS', key)) as unknown[][]).map(fieldsOf)) {
    const name = String(group.get('name'));
    const entriesRead = group.get('entries-read');
    const read =
      counters && entriesRead !== null && entriesRead !== undefined ? ['ENTRIESREAD', String(entriesRead)] : [];
    await target.callBuffer('XGROUP', 'CREATE', into, name, String(group.get('last-delivered-id')), ...read);
    // Consumers with nothing pending exist too; XCLAIM would only make the ones that own entries.
    const consumers = ((await source.call('XINFO', 'CONSUMERS', key, name)) as unknown[][]).map(fieldsOf);
    if (consumers.length > 0) {
      const pipeline = target.pipeline();
      for (const consumer of consumers)
        pipeline.callBuffer('XGROUP', 'CREATECONSUMER', into, name, String(consumer.get('name')));
      await execAll(pipeline, 'XGROUP CREATECONSUMER');
    }
    await rebuildPending(source, key, target, into, name, onPiece);
  }
}

/** Each pending entry claimed by its consumer with its idle time and delivery count, as the source has them. */
async function rebuildPending(
  source: Redis,
  key: Buffer,
  target: Redis,
  into: Buffer,
  group: string,
  onPiece: () => void,
): Promise<void> {
  let start = '-';
  for (;;) {
    const pending = (await source.call('XPENDING', key, group, start, '+', PIECE)) as [
      string,
      string,
      number,
      number,
    ][];
    if (pending.length > 0) {
      const pipeline = target.pipeline();
      for (const [id, consumer, idle, deliveries] of pending)
        pipeline.callBuffer(
          'XCLAIM',
          into,
          group,
          consumer,
          '0',
          id,
          'IDLE',
          String(idle),
          'RETRYCOUNT',
          String(deliveries),
          'FORCE',
          'JUSTID',
        );
      await execAll(pipeline, 'XCLAIM');
    }
    onPiece();
    if (pending.length < PIECE) return;
    start = `(${pending[pending.length - 1]![0]}`;
  }
}
