/**
 * The restore ceiling of bench:migrate: the physical limit for loading these bytes into this cluster here. The same
 * keys, as their DUMP payloads read from the source beforehand, RESTOREd into their owners by the leanest loader we
 * can write: every command encoded before the clock starts, every master at once, several batches in flight on one
 * connection per master, nothing parsed but the replies. What our loaders reach is printed as a share of it.
 */
import type Redis from 'ioredis';
import { BulkConnection, ReplyError, encodeCommands } from '../../src/redis/bulk';
import { PLAIN_ACCESS } from '../../src/redis/connection';
import { SlotMap, groupByOwner, splitAddress } from '../../src/redis/slot-map';
import type { ClusterSpec } from '../../src/model';

interface Payload {
  key: Buffer;
  payload: Buffer;
  /** Absolute expiry in ms, 0 without. */
  expireAt: number;
}

const BATCH = 1000;
const IN_FLIGHT = 8;

/** Every key of the source (db 0) as its DUMP payload and absolute expiry. */
export async function readPayloads(source: Redis): Promise<Payload[]> {
  const payloads: Payload[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await source.scanBuffer(cursor, 'COUNT', 1000);
    cursor = next.toString();
    const pipeline = source.pipeline();
    for (const key of keys) pipeline.dumpBuffer(key).call('PEXPIRETIME', key);
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((key, i) => {
      const payload = replies[2 * i]?.[1] as Buffer | null;
      const expireAt = Number(replies[2 * i + 1]?.[1]);
      if (payload && expireAt !== -2) payloads.push({ key, payload, expireAt: Math.max(0, expireAt) });
    });
  } while (cursor !== '0');
  return payloads;
}

/** RESTOREs the payloads into the target's masters; keys per second from the first byte sent to the last reply. */
export async function restoreCeiling(target: ClusterSpec, payloads: Payload[]): Promise<number> {
  const map = new SlotMap(target.nodes.filter((n) => n.role === 'master').map((n) => ({ host: n.host, port: n.port })));
  await map.refresh();
  try {
    const owners = [...groupByOwner(payloads, map, (p) => p.key)].map(([owner, items]) => {
      const batches: { encoded: Buffer; count: number }[] = [];
      for (let i = 0; i < items.length; i += BATCH) {
        const commands = items
          .slice(i, i + BATCH)
          .map((p) =>
            p.expireAt > 0
              ? ['RESTORE', p.key, p.expireAt, p.payload, 'REPLACE', 'ABSTTL']
              : ['RESTORE', p.key, 0, p.payload, 'REPLACE'],
          );
        batches.push({ encoded: encodeCommands(commands), count: commands.length });
      }
      return { owner, batches };
    });
    const connections = await Promise.all(
      owners.map(({ owner }) => {
        const [host, port] = splitAddress(owner);
        return BulkConnection.open({ host, port }, { access: PLAIN_ACCESS });
      }),
    );
    const started = performance.now();
    await Promise.all(
      owners.map(async ({ batches }, n) => {
        const connection = connections[n]!;
        const flying: Promise<unknown>[] = [];
        for (const batch of batches) {
          if (flying.length >= IN_FLIGHT) await flying.shift();
          const sent = connection.execEncoded(batch.encoded, batch.count).then((replies) => {
            const error = replies.find((r) => r instanceof ReplyError);
            if (error) throw error;
          });
          sent.catch(() => undefined); // awaited in turn; until then its failure must not count as unhandled
          flying.push(sent);
        }
        await Promise.all(flying);
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    for (const connection of connections) connection.close();
    return payloads.length / seconds;
  } finally {
    map.close();
  }
}
