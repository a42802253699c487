/**
 * Loading a source's snapshot into the cluster as it arrives over the replication link: each key's RDB value
 * becomes a DUMP payload, RESTOREd (REPLACE, absolute expiry) into its owner; all owners written at once, one batch
 * in flight while the next is parsed. Functions are loaded on every master. Memory stays bounded: the socket is
 * paused while the cluster is behind, and a batch holds at most 8 MB of payloads.
 */
import { type Arg, ReplyError } from '../../redis/bulk';
import { sendFollowingRedirects } from '../../redis/redirects';
import type { SlotMap } from '../../redis/slot-map';
import { heartbeat } from '../../runtime/context';
import { SyncRefused } from './apply';
import { crc64 } from './crc64';
import type { ReplicaLink, RdbFraming } from './link';
import { RdbParser, dumpPayload } from './rdb';

const BATCH_KEYS = 2000;
const BATCH_BYTES = 8 * 1024 * 1024;

export interface SnapshotResult {
  keys: number;
  /** Keys already expired in the snapshot: not carried. */
  expired: number;
  functions: number;
  rdbVersion: number;
  /** What came after the snapshot on the link: the beginning of the stream. */
  rest: Buffer;
  /** With `collectKeys`: a 53-bit hash of every target key written (to find keys a new snapshot no longer has). */
  written?: Set<number>;
  /** The database the stream that follows is in (the snapshot's repl-stream-db). */
  streamDb: number;
}

/** A 53-bit hash of a key, for a set of the keys a snapshot wrote. */
export function keyHash(key: Buffer): number {
  const crc = crc64(key);
  return crc.readUInt32LE(0) + (crc.readUInt32LE(4) & 0x1fffff) * 2 ** 32;
}

export async function loadSnapshot(
  link: ReplicaLink,
  framing: RdbFraming,
  map: SlotMap,
  options: { prefixes: Map<number, Buffer | undefined>; collectKeys: boolean; now?: number },
): Promise<SnapshotResult> {
  const parser = new RdbParser();
  const result: SnapshotResult = {
    keys: 0,
    expired: 0,
    functions: 0,
    rdbVersion: 0,
    rest: Buffer.alloc(0),
    streamDb: 0,
  };
  if (options.collectKeys) result.written = new Set();
  const now = options.now ?? Date.now();
  let batch: { key: Buffer; command: Arg[] }[] = [];
  let bytes = 0;
  let inFlight: Promise<void> | undefined;

  const send = async (items: { key: Buffer; command: Arg[] }[]) => {
    const byOwner = new Map<string, { key: Buffer; command: Arg[] }[]>();
    for (const item of items) {
      const owner = map.ownerOf(item.key);
      byOwner.set(owner, [...(byOwner.get(owner) ?? []), item]);
    }
    await Promise.all(
      [...byOwner].map(async ([owner, group]) => {
        const replies = await (await map.bulk(owner)).exec(group.map((g) => g.command));
        for (const [i, reply] of replies.entries()) {
          if (!(reply instanceof ReplyError)) continue;
          const item = group[i]!;
          const final = await sendFollowingRedirects(map, item.key, item.command, { first: reply });
          if (final instanceof ReplyError) {
            const why = /payload version or checksum/i.test(final.message)
              ? `the source's RDB version ${result.rdbVersion} is newer than the cluster's Redis can restore`
              : final.message;
            throw new SyncRefused(`RESTORE failed: ${why}`, `key ${JSON.stringify(item.key.toString())}`, 0);
          }
        }
      }),
    );
  };
  const flush = async () => {
    if (batch.length === 0) return;
    const items = batch;
    batch = [];
    bytes = 0;
    await inFlight;
    inFlight = send(items);
    heartbeat({ phase: 'snapshot', keys: result.keys });
  };

  const total = 'length' in framing ? framing.length : undefined;
  let received = 0;
  while (!parser.done) {
    let chunk = await link.next(60_000);
    if (!chunk) throw new Error(`${link.address}: the snapshot stalled (nothing for 60 s)`);
    if (total !== undefined && received + chunk.length > total) {
      // Bytes past the snapshot's length are the stream: back to the link.
      link.unshift(chunk.subarray(total - received));
      chunk = chunk.subarray(0, total - received);
    }
    received += chunk.length;
    for (const event of parser.push(chunk)) {
      if (event.kind === 'key') {
        if (event.expireAt > 0 && event.expireAt <= now) {
          result.expired++;
          continue;
        }
        if (!options.prefixes.has(event.db))
          throw new SyncRefused(
            `the snapshot has keys in database ${event.db}, which migration.source.databases does not map into the cluster`,
            `key ${JSON.stringify(event.key.toString())}`,
            0,
          );
        const prefix = options.prefixes.get(event.db);
        const key = prefix ? Buffer.concat([prefix, event.key]) : event.key;
        const payload = dumpPayload(event.type, event.value, parser.version);
        const command: Arg[] = ['RESTORE', key, event.expireAt > 0 ? event.expireAt : 0, payload, 'REPLACE'];
        if (event.expireAt > 0) command.push('ABSTTL');
        batch.push({ key, command });
        result.written?.add(keyHash(key));
        result.keys++;
        bytes += payload.length;
        if (batch.length >= BATCH_KEYS || bytes >= BATCH_BYTES) await flush();
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
  await inFlight;
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
