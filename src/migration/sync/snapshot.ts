/**
 * Loading a source's snapshot into the cluster as it arrives over the replication link: each key's RDB value
 * becomes a DUMP payload, RESTOREd (REPLACE, absolute expiry) into its owner; every owner has its own queue of up to
 * three batches in flight while the next is parsed. Functions are loaded on every master. Memory stays bounded: the socket
 * is paused while the cluster is behind, and a batch holds at most 8 MB of payloads.
 */
import { ReplyError } from '../../redis/bulk';
import { sendFollowingRedirects } from '../../redis/redirects';
import { type SlotMap, groupByOwner } from '../../redis/slot-map';
import { heartbeat } from '../../runtime/context';
import { SyncRefused } from './refused';
import { crc64Halves } from './crc64';
import type { ReplicaLink, RdbFraming } from './link';
import { RdbParser } from './rdb';
import { type Restore, encodeRestores, restoreCommand } from './restore-batch';
import { type BigValue, finishBigValue, startBigValue, writePiece } from './big-values';
import { TYPE_NAMES } from './rdb-encoding';
import { valueForTarget } from './downgrade';
import { capabilitiesOf } from '../../redis/servers';
import { HASH_FIELD_TTL_TYPES, describeServer, payloadVersionFor } from '../../model/servers';
import { groupBy } from '../../model/group-by';
import { printableKey } from '../../redis/compare';
import type { DestinationBytes } from '../sources';

/** Items by the target database they go into. */
/** Measured here: 10,000-key batches, three in flight, load half again as fast as 2,000-key batches one at a time. */
const BATCH_KEYS = 10_000;
const IN_FLIGHT = 3;
// Bytes bound the worker's memory: 4 MB x 3 in flight x 4 owners, and the encoded copies (8 MB batches peaked at 318 MB RSS).
const BATCH_BYTES = 4 * 1024 * 1024;

export interface SnapshotResult {
  keys: number;
  /** Keys already expired in the snapshot: not carried. */
  expired: number;
  functions: number;
  rdbVersion: number;
  /** Hash field expirations left out (migration.dropHashFieldTtls). */
  fieldTtlsDropped: number;
  /** What came after the snapshot on the link: the beginning of the stream. */
  rest: Buffer;
  /** With `collectKeys`: a 53-bit hash of every target key written (to find keys a new snapshot no longer has). */
  written?: Set<number>;
  /** The database the stream that follows is in (the snapshot's repl-stream-db). */
  streamDb: number;
}

/** A 53-bit hash of a key, for a set of the keys a snapshot wrote; `db`: the target database it went into. */
export function keyHash(key: Buffer, db = 0): number {
  const [lo, hi] = crc64Halves(db === 0 ? key : Buffer.concat([Buffer.from(`\0db${db}\0`), key]));
  return lo + (hi & 0x1fffff) * 2 ** 32;
}

/** How far a snapshot got: keys read, and the last one (its bytes: made printable only when a cut is reported). */
export interface SnapshotPosition {
  keys: number;
  lastKey?: Buffer;
}

export async function loadSnapshot(
  link: ReplicaLink,
  framing: RdbFraming,
  map: SlotMap,
  options: {
    /** Source database -> its target database and key prefix; a database not listed is refused. */
    destinations: Map<number, DestinationBytes>;
    collectKeys: boolean;
    now?: number;
    /** migration.dropHashFieldTtls: for a target without hash field expirations. */
    dropHashFieldTtls?: boolean;
    /** Called before each batch is sent (it throws to stop the load). */
    beforeBatch?: () => Promise<void>;
    /**
     * Values over this many bytes (migration.bigKeyBytes) are built in pieces under a temporary key in their slot,
     * then renamed into place: neither the worker nor a RESTORE holds them whole.
     */
    bigKeyBytes?: number;
    /** Kept up to date as keys arrive: where a snapshot cut off by the source stopped. */
    position?: SnapshotPosition;
  },
): Promise<SnapshotResult> {
  const now = options.now ?? Date.now();
  const parser = new RdbParser({ unfoldBytes: options.bigKeyBytes, now });
  const result: SnapshotResult = {
    keys: 0,
    expired: 0,
    functions: 0,
    rdbVersion: 0,
    fieldTtlsDropped: 0,
    rest: Buffer.alloc(0),
    streamDb: 0,
  };
  if (options.collectKeys) result.written = new Set();
  let batch: (Restore & { db: number })[] = [];
  let bytes = 0;
  // Each owner has its own queue: a master busy with a big key does not hold the others back.
  const outstanding = new Map<string, Promise<void>[]>();

  // Payloads go out in an RDB version every target master restores: the source's, or the oldest target's (values
  // re-encoded where that target knows their type in another form, or not at all: downgrade.ts).
  const targets = await Promise.all(map.masters().map(async (owner) => capabilitiesOf(await map.client(owner))));
  const oldest = targets.reduce((a, b) => (b.rdbVersion < a.rdbVersion ? b : a));
  const payloadVersion = () => payloadVersionFor(oldest.rdbVersion, parser.version);

  const sendTo = async (target: SlotMap, owner: string, group: Restore[]) => {
    const replies = await (await target.bulk(owner)).execEncoded(encodeRestores(group, payloadVersion()), group.length);
    for (const [i, reply] of replies.entries()) {
      if (!(reply instanceof ReplyError)) continue;
      const item = group[i]!;
      const final = await sendFollowingRedirects(target, item.key, restoreCommand(item, payloadVersion()), {
        first: reply,
      });
      if (final instanceof ReplyError) {
        const why = /payload version or checksum/i.test(final.message)
          ? `the cluster's server restores no payload of the source's RDB version ${parser.version}`
          : final.message;
        throw new SyncRefused(`RESTORE failed: ${why}`, `key ${JSON.stringify(item.key.toString())}`, 0);
      }
    }
  };
  const flush = async () => {
    if (batch.length === 0) return;
    await options.beforeBatch?.();
    const items = batch;
    batch = [];
    bytes = 0;
    for (const [db, inDb] of groupBy(items, (item) => item.db))
      for (const [owner, group] of groupByOwner(inDb, map, (item) => item.key)) {
        let queue = outstanding.get(owner);
        if (!queue) outstanding.set(owner, (queue = []));
        while (queue.length >= IN_FLIGHT) await queue.shift();
        const sending = sendTo(map.onDatabase(db), owner, group);
        sending.catch(() => undefined); // awaited in turn; until then its failure must not count as unhandled
        queue.push(sending);
      }
    heartbeat({ phase: 'snapshot', keys: result.keys });
  };

  // The big value being built in pieces (undefined while none is; `skip`: it expired already).
  let big: BigValue | { skip: true } | undefined;
  /** Where a source key goes: its name and database in the target. */
  const destinationOf = (db: number, key: Buffer): { key: Buffer; db: number } => {
    const to = options.destinations.get(db);
    if (!to)
      throw new SyncRefused(
        `the snapshot has keys in database ${db}, which migration.source.databases does not map into the cluster`,
        `key ${JSON.stringify(key.toString())}`,
        0,
      );
    return { key: to.prefix ? Buffer.concat([to.prefix, key]) : key, db: to.db };
  };

  const total = 'length' in framing ? framing.length : undefined;
  let received = 0;
  while (!parser.done) {
    if (total !== undefined && received >= total && !parser.deferring)
      throw new Error(`${link.address}: the snapshot's ${total} bytes ended before its end marker`);
    // A big value deferred for more bytes is parsed as it is when nothing more comes for a moment.
    const deferring = parser.deferring;
    let chunk = await link.next(deferring ? 200 : 60_000);
    if (!chunk && !deferring) throw new Error(`${link.address}: the snapshot stalled (nothing for 60 s)`);
    chunk ??= Buffer.alloc(0);
    // Inside a big value the parser starts over each time: give it what the link already holds, up to what it needs.
    if (chunk.length < parser.shortBy) {
      const parts = [chunk];
      let size = chunk.length;
      for (let more = await link.next(0); more; more = size < parser.shortBy ? await link.next(0) : undefined) {
        parts.push(more);
        size += more.length;
      }
      chunk = Buffer.concat(parts);
    }
    if (total !== undefined && received + chunk.length > total) {
      // Bytes past the snapshot's length are the stream: back to the link.
      link.unshift(chunk.subarray(total - received));
      chunk = chunk.subarray(0, total - received);
    }
    received += chunk.length;
    // A big value arrives over many chunks before any batch is sent: the load is alive all the same.
    heartbeat({ phase: 'snapshot', keys: result.keys, bytes: received });
    for (const event of parser.push(chunk, deferring && chunk.length === 0)) {
      if (event.kind === 'key') {
        if (event.expireAt > 0 && event.expireAt <= now) {
          result.expired++;
          continue;
        }
        const { key, db } = destinationOf(event.db, event.key);
        const restorable = valueForTarget(event.type, event.value, oldest.rdbVersion, {
          dropHashFieldTtls: options.dropHashFieldTtls,
          now,
        });
        if (!restorable)
          throw new SyncRefused(
            `its value (${TYPE_NAMES[event.type] ?? `RDB type ${event.type}`}, from a source of RDB version ${parser.version}) has no form that the target, ${describeServer(oldest)}, can restore${HASH_FIELD_TTL_TYPES.has(event.type) ? '; set migration.dropHashFieldTtls to copy such hashes without their field expirations' : ''}`,
            `key ${JSON.stringify(key.toString())}`,
            0,
          );
        result.fieldTtlsDropped += restorable.droppedFieldTtls ?? 0;
        batch.push({ key, db, type: restorable.type, value: restorable.value, expireAt: event.expireAt });
        result.written?.add(keyHash(key, db));
        result.keys++;
        if (options.position) Object.assign(options.position, { keys: result.keys, lastKey: key });
        bytes += event.value.length;
        if (batch.length >= BATCH_KEYS || bytes >= BATCH_BYTES) await flush();
      } else if (event.kind === 'bigKey') {
        if (event.expireAt > 0 && event.expireAt <= now) {
          result.expired++;
          big = { skip: true };
          continue;
        }
        const to = destinationOf(event.db, event.key);
        big = await startBigValue(map.onDatabase(to.db), to.key, event.expireAt);
      } else if (event.kind === 'bigPiece') {
        if (big && !('skip' in big)) {
          await options.beforeBatch?.();
          result.fieldTtlsDropped += await writePiece(big, event.writes, options.dropHashFieldTtls ?? false);
          heartbeat({ phase: 'snapshot', keys: result.keys, bytes: received, bigKey: printableKey(big.key) });
        }
      } else if (event.kind === 'bigKeyEnd') {
        if (big && !('skip' in big)) {
          await finishBigValue(big);
          result.written?.add(keyHash(big.key, big.db));
          result.keys++;
        }
        big = undefined;
      } else if (event.kind === 'aux' && event.name === 'repl-stream-db') {
        result.streamDb = Number(event.value);
      } else if (event.kind === 'function') {
        result.functions++;
        await Promise.all(
          map.masters().map(async (owner) => {
            const [reply] = await (await map.bulk(owner)).exec([['FUNCTION', 'LOAD', 'REPLACE', event.code]]);
            if (reply instanceof ReplyError)
              throw new SyncRefused(`FUNCTION LOAD failed on ${owner}: ${reply.message}`, 'a function library', 0);
          }),
        );
      }
    }
  }
  await flush();
  await Promise.all([...outstanding.values()].flat());
  result.rdbVersion = parser.version;
  let rest = parser.rest();
  if ('eofMark' in framing) {
    // The snapshot ends with the mark it started with; then the stream.
    while (rest.length < framing.eofMark.length) {
      const chunk = await link.next(60_000);
      if (!chunk) throw new Error(`${link.address}: the snapshot's end mark never came`);
      rest = Buffer.concat([rest, chunk]);
    }
    if (!rest.subarray(0, framing.eofMark.length).equals(framing.eofMark))
      throw new Error(`${link.address}: the snapshot did not end with its mark`);
    rest = rest.subarray(framing.eofMark.length);
  }
  result.rest = rest;
  return result;
}
