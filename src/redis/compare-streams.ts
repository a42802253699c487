/**
 * Streams compared piece by piece: their length, ids and counters, entries by id ranges, then every consumer group
 * with its consumers and pending entries (a group that lost its pending entries is a difference).
 */
import type Redis from 'ioredis';
import { type Side, PIECE, both, same } from './pieces';

/** XINFO's flat [name, value, ...] replies as a map. */
export function fieldsOf(reply: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), reply[i + 1]);
  return map;
}

export async function compareStream(
  a: Side,
  b: Side,
  onPiece: () => void,
  replicated: boolean,
): Promise<string | undefined> {
  const counters = a.server.streamCounters && b.server.streamCounters;
  const [ia, ib] = await both(a, b, async (s) =>
    fieldsOf((await s.client.call('XINFO', 'STREAM', s.key)) as unknown[]),
  );
  const streamFields = ['length', 'last-generated-id', ...(counters ? ['entries-added', 'max-deleted-entry-id'] : [])];
  for (const field of streamFields)
    if (String(ia.get(field)) !== String(ib.get(field)))
      return `${field} ${String(ib.get(field))} in the target, ${String(ia.get(field))} in the source`;
  // Entries, in id order on both sides.
  let start = '-';
  for (;;) {
    const [x, y] = (await both(a, b, (s) => s.client.callBuffer('XRANGE', s.key, start, '+', 'COUNT', PIECE))) as [
      [Buffer, Buffer[]][],
      [Buffer, Buffer[]][],
    ];
    if (x.length !== y.length || x.some(([id, f], i) => !id.equals(y[i]![0]) || !same(f, y[i]![1])))
      return `entries after ${start} differ`;
    onPiece();
    if (x.length < PIECE) break;
    start = `(${x[x.length - 1]![0].toString()}`;
  }
  return compareGroups(a, b, counters && !replicated, onPiece);
}

const consumersOf = async (client: Redis, key: Buffer, group: string) =>
  ((await client.call('XINFO', 'CONSUMERS', key, group)) as unknown[][]).map(fieldsOf);

/**
 * A consumer created by an XREADGROUP that read nothing is not replicated (measured on Redis 8.2.3: no command reaches
 * a replica), so a live mirror lacks it until it reads an entry. The live verify creates such consumers in the target
 * as the source has them, empty; consumers with pending entries come through the stream (XCLAIM) and are never
 * created here. The comparison itself only reads. Returns how many it created.
 */
export async function createMissingIdleConsumers(
  source: Redis,
  sourceKey: Buffer,
  target: Redis,
  targetKey: Buffer,
): Promise<number> {
  let created = 0;
  const groups = ((await source.call('XINFO', 'GROUPS', sourceKey)) as unknown[][]).map(fieldsOf);
  for (const group of groups) {
    const name = String(group.get('name'));
    const [want, have] = await Promise.all([
      consumersOf(source, sourceKey, name),
      consumersOf(target, targetKey, name).catch(() => undefined),
    ]);
    if (!have) continue; // the group itself is missing: a difference the comparison names
    const held = new Set(have.map((c) => String(c.get('name'))));
    for (const consumer of want)
      if (Number(consumer.get('pending')) === 0 && !held.has(String(consumer.get('name')))) {
        await target.call('XGROUP', 'CREATECONSUMER', targetKey, name, String(consumer.get('name')));
        created++;
      }
  }
  return created;
}

/** Consumer groups: their counters, consumers and pending entries (a group that lost its PEL is a difference). */
async function compareGroups(a: Side, b: Side, counters: boolean, onPiece: () => void): Promise<string | undefined> {
  const [ga, gb] = await both(a, b, async (s) =>
    ((await s.client.call('XINFO', 'GROUPS', s.key)) as unknown[][]).map(fieldsOf),
  );
  const groupFields = ['name', 'last-delivered-id', 'pending', 'consumers', ...(counters ? ['entries-read'] : [])];
  const byName = new Map(gb.map((g) => [String(g.get('name')), g]));
  if (ga.length !== gb.length) return `${gb.length} consumer groups in the target, ${ga.length} in the source`;
  for (const group of ga) {
    const name = String(group.get('name'));
    const other = byName.get(name);
    if (!other) return `consumer group ${name} missing in the target`;
    for (const field of groupFields)
      if (String(group.get(field)) !== String(other.get(field)))
        return `consumer group ${name}: ${field} ${String(other.get(field))} in the target, ${String(group.get(field))} in the source`;
    const [ca, cb] = await both(a, b, async (s) =>
      (await consumersOf(s.client, s.key, name))
        .map((c) => `${String(c.get('name'))}:${String(c.get('pending'))}`)
        .sort(),
    );
    if (ca.join('\n') !== cb.join('\n')) return `consumer group ${name}: consumers differ`;
    const pel = await comparePending(a, b, name, onPiece);
    if (pel) return `consumer group ${name}: ${pel}`;
  }
  return undefined;
}

/** Pending entries: id, consumer and delivery count (idle time moves on by itself). */
async function comparePending(a: Side, b: Side, group: string, onPiece: () => void): Promise<string | undefined> {
  let start = '-';
  for (;;) {
    const [x, y] = await both(a, b, async (s) =>
      ((await s.client.call('XPENDING', s.key, group, start, '+', PIECE)) as [string, string, number, number][]).map(
        ([id, consumer, , deliveries]) => `${id} ${consumer} ${deliveries}`,
      ),
    );
    if (x.join('\n') !== y.join('\n')) return `pending entries after ${start} differ`;
    onPiece();
    if (x.length < PIECE) return undefined;
    start = `(${x[x.length - 1]!.split(' ')[0]!}`;
  }
}
