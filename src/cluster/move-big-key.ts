/**
 * A big key moved between masters without one MIGRATE holding the old owner for the whole value: rebuilt in the new
 * owner a piece at a time, then switched in under a pause of a few round trips (see moveInPieces).
 */
import type Redis from 'ioredis';
import { type Send, buildInPieces, isPiecewise, temporaryKeyFor } from '../redis/build-in-pieces';
import { BulkConnection } from '../redis/bulk';
import { connectNode } from '../redis/connection';
import { capabilitiesOf } from '../redis/servers';
import { frequentHeartbeat, log } from '../runtime/context';

/** Tries at rebuilding a big key that clients keep changing, before it goes in one MIGRATE. */
const PIECEWISE_TRIES = 3;
/** The longest the old owner's writes are held while a rebuilt key takes its place (it takes a few round trips). */
const SWITCH_PAUSE_MS = 2000;

/** Sends each command after ASKING: the new owner serves a slot it imports only then. */
export const asking =
  (client: Redis): Send =>
  async (command, ...args) => {
    const replies =
      (await client
        .pipeline()
        .call('ASKING')
        .callBuffer(command, ...args)
        .exec()) ?? [];
    const [error, value] = replies[1] ?? [new Error(`no reply to ${command}`), undefined];
    if (error) throw error;
    return value;
  };

/**
 * Moves one big key without a MIGRATE that would hold the old owner for as long as the whole value takes: the value is
 * rebuilt in the new owner under a temporary name, a piece at a time, while clients go on using the key in the old
 * owner. Then the old owner's writes are held for a few round trips (CLIENT PAUSE WRITE): if the key did not change
 * since the rebuild began (WATCH), the copy is renamed into place, with the key's remaining TTL, and the key is deleted
 * from the old owner in the same breath as the writes are let go, so that no client write can come in between;
 * from then on the old owner sends clients to the new one (ASK). A key that changed is rebuilt again; returns false
 * when it cannot be moved this way (its type, the server, or clients that keep changing it): it then goes in one
 * MIGRATE.
 */
export async function moveInPieces(
  holder: { client: Redis; admin: { host: string; port: number } },
  to: { admin: { host: string; port: number } },
  key: Buffer,
  slot: number,
): Promise<boolean> {
  const tmp = temporaryKeyFor(key);
  const type = String(await holder.client.type(key));
  if (!tmp || !isPiecewise(type)) return false;
  const server = await capabilitiesOf(holder.client);
  // Field expirations would need HPEXPIRE per field: MIGRATE carries them.
  if (!server.pauseWrite || (type === 'hash' && server.hashFieldTtl)) return false;
  // Connections of its own on both sides: the move's shared ones queue every other slot's commands (the old owner's
  // behind MIGRATEs that hold it), and a rebuild of hundreds of pieces waited in those queues for each one. The pieces
  // go on lean connections (bulk.ts): through ioredis, a 300,000-field hash cost the worker 0.5 s of CPU, 0.22 s so.
  const watcher = await connectNode(holder.admin);
  const bulk: BulkConnection[] = [];
  try {
    bulk.push(await BulkConnection.open(holder.admin), await BulkConnection.open(to.admin));
  } catch (err) {
    watcher.disconnect();
    for (const connection of bulk) connection.close();
    throw err;
  }
  const [reader, writer] = bulk as [BulkConnection, BulkConnection];
  const read: Send = reader.call;
  // ASKING before each: the new owner serves a slot it imports only then.
  const write: Send = async (command, ...args) =>
    (await writer.execOrThrow([['ASKING'], [command, ...args]], command))[1];
  try {
    for (let attempt = 1; attempt <= PIECEWISE_TRIES; attempt++) {
      await watcher.watch(key);
      await write('DEL', tmp);
      await buildInPieces(read, key, type, write, tmp, {
        onPiece: () => frequentHeartbeat({ slot, bigKey: key.length }),
      });
      // On the watcher: the shared connection may have a write of another slot queued, which the pause would hold.
      await watcher.call('CLIENT', 'PAUSE', SWITCH_PAUSE_MS, 'WRITE');
      let switched = false;
      try {
        // Read-only, so the pause lets it through; null when the key changed since WATCH.
        const unchanged = await watcher.multi().pttl(key).exec();
        if (unchanged) {
          const ttl = Number(unchanged[0]![1]);
          // RENAME into a key the importing node lacks is refused (TRYAGAIN: a multi-key command in a slot being
          // moved): a placeholder first. Clients cannot see either while the old owner has the key and holds writes.
          await write('SET', key, '');
          await write('RENAME', tmp, key);
          if (ttl > 0) await write('PEXPIRE', key, String(ttl));
          // The key cannot change while writes are held; the DEL is queued right behind the UNPAUSE on one
          // connection, so Redis runs it before any write the pause held back.
          await watcher.watch(key);
          const replies =
            (await watcher
              .pipeline()
              .call('CLIENT', 'UNPAUSE')
              .call('MULTI')
              .callBuffer('DEL', key)
              .call('EXEC')
              .exec()) ?? [];
          switched = Array.isArray(replies[3]?.[1]);
          if (!switched) await write('DEL', key); // a held-back write came first: the copy is stale
        }
      } finally {
        await watcher.call('CLIENT', 'UNPAUSE');
      }
      if (switched) return true;
      await write('DEL', tmp);
      log.info('a big key changed while it was rebuilt; trying again', { slot, attempt });
    }
    return false;
  } finally {
    watcher.disconnect();
    for (const connection of bulk) connection.close();
  }
}
