/**
 * A value too big to hold whole, built in the target from the writes the RDB parser unfolds it into (rdb-unfold.ts):
 * under a temporary key in its slot, pieces pipelined on the owner's batch connection, renamed once whole.
 */
import type Redis from 'ioredis';
import { describeServer } from '../../model/servers';
import { temporaryKeyFor } from '../../redis/build-in-pieces';
import { type Arg, type BulkConnection, ReplyError } from '../../redis/bulk';
import { printableKey } from '../../redis/compare';
import { capabilitiesOf } from '../../redis/servers';
import type { SlotMap } from '../../redis/slot-map';
import { SyncRefused } from './refused';
import type { Write } from './rdb-unfold';

/** A value built in pieces: under `tmp` (in `key`'s slot) on its owner, renamed to `key` once whole. */
export interface BigValue {
  key: Buffer;
  /** The target database it goes into. */
  db: number;
  tmp: Buffer;
  client: Redis;
  /** The owner's batch connection: pieces encoded straight into RESP (ioredis's per-argument encoding is slower). */
  bulk: BulkConnection;
  expireAt: number;
  elements: number;
  /** Pieces sent and not yet answered: one connection keeps them in order; a few in flight keep the target busy. */
  inFlight: Promise<void>[];
}

const PIECES_IN_FLIGHT = 4;

/** `map`: the target on the database the value goes into. */
export async function startBigValue(map: SlotMap, key: Buffer, expireAt: number): Promise<BigValue> {
  const owner = map.ownerOf(key);
  const client = await map.client(owner);
  const tmp = temporaryKeyFor(key) ?? key;
  await client.del(tmp); // a piece of an earlier attempt
  return { key, db: map.db, tmp, client, bulk: await map.bulk(owner), expireAt, elements: 0, inFlight: [] };
}

/**
 * One piece of a big value's writes, sent in one write. A target without hash field expirations drops them when
 * allowed (returns how many) and refuses the key otherwise; one without stream counters is not sent them.
 */
export async function writePiece(big: BigValue, writes: Write[], dropHashFieldTtls: boolean): Promise<number> {
  const target = await capabilitiesOf(big.client);
  let dropped = 0;
  const commands: Arg[][] = [];
  for (const write of writes) {
    let args = write.args;
    if (write.command[0] === 'HPEXPIREAT' && !target.hashFieldTtl) {
      if (!dropHashFieldTtls)
        throw new SyncRefused(
          `its hash fields have expirations, which the target, ${describeServer(target)}, cannot hold; set migration.dropHashFieldTtls to copy such hashes without their field expirations`,
          `key ${printableKey(big.key)}`,
          0,
        );
      dropped++;
      continue;
    }
    if (!target.streamCounters) {
      const at = args.findIndex((a) => a === 'ENTRIESADDED' || a === 'ENTRIESREAD');
      if (at >= 0) args = args.slice(0, at);
    }
    commands.push([...write.command, big.tmp, ...args]);
    big.elements += write.args.length;
  }
  const sent = big.bulk.exec(commands).then((replies) => {
    const error = replies.find((r) => r instanceof ReplyError) as ReplyError | undefined;
    if (error) throw new Error(`key ${printableKey(big.key)}: building it in pieces failed: ${error.message}`);
  });
  sent.catch(() => undefined); // awaited in turn; until then its failure must not count as unhandled
  big.inFlight.push(sent);
  while (big.inFlight.length > PIECES_IN_FLIGHT) await big.inFlight.shift();
  return dropped;
}

export async function finishBigValue(big: BigValue): Promise<void> {
  for (const sent of big.inFlight.splice(0)) await sent;
  if (big.expireAt > 0) await big.client.callBuffer('PEXPIREAT', big.tmp, String(big.expireAt));
  if (big.tmp !== big.key) await big.client.callBuffer('RENAME', big.tmp, big.key);
}
