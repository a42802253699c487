/**
 * A streaming RDB parser: it finds each key's name, expiry and the exact bytes of its value encoding, which are what
 * a DUMP payload carries (the type byte, the value encoding, the RDB version, a CRC64). Values are not decoded,
 * only measured, so any type Redis writes is carried byte for byte. Chunks are pushed as they arrive; an entry cut
 * off by a chunk boundary is parsed again only once the bytes it needs have arrived.
 */
import { byteOfType, isValkeyRdb, typeOfByte } from '../../model/servers';
import { crc64 } from './crc64';
import { Cursor, NeedMore, OP, RdbError, TYPE_NAMES, skipValue } from './rdb-encoding';
import { UNFOLDABLE_TYPES, Unfolder, type Write } from './rdb-unfold';

export { RdbError, lzfDecompress } from './rdb-encoding';

export type RdbEvent =
  | { kind: 'aux'; name: string; value: string }
  | { kind: 'key'; db: number; key: Buffer; type: number; value: Buffer; expireAt: number }
  /** A value over `unfoldBytes`: its key, then its writes in pieces (bigPiece), then bigKeyEnd. */
  | { kind: 'bigKey'; db: number; key: Buffer; type: number; expireAt: number }
  | { kind: 'bigPiece'; writes: Write[] }
  | { kind: 'bigKeyEnd'; fieldTtls: number }
  | { kind: 'function'; code: Buffer }
  | { kind: 'end' };

/** An entry this long that still needs bytes is a big value: see push. */
const BIG_ENTRY_BYTES = 1 << 20;
/** A piece of an unfolded value: about this many elements, or bytes, per piece. */
const PIECE_ELEMENTS = 1000;
const PIECE_BYTES = 1 << 20;

export interface RdbParserOptions {
  /**
   * A list, set, sorted set, hash or stream over this many bytes, or still arriving past 1 MB, is read in pieces, as
   * the commands that build it (bigKey, bigPiece..., bigKeyEnd), never held whole. Without it, every value comes
   * whole (a key event).
   */
  unfoldBytes?: number;
  /** Now, in ms: hash fields of an unfolded value that expired by then are left out. */
  now?: number;
}

export class RdbParser {
  version = 0;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes the entry at the start of the buffer needs before it is worth parsing again. */
  private needed = 9;
  private db = 0;
  private expireAt = -1;
  private ended = false;
  /** Bytes consumed so far. */
  consumed = 0;
  /** The big value being read in pieces, and its writes not yet out as a piece. */
  private unfolding?: Unfolder;
  private piece: Write[] = [];
  private pieceElements = 0;
  private pieceBytes = 0;

  constructor(private readonly options: RdbParserOptions = {}) {}

  get done(): boolean {
    return this.ended;
  }

  /** A big value waits for twice its bytes before it is parsed again (see push). */
  private retryAt = 0;

  /** Bytes the entry being read still needs before it is parsed again (a big value: gather them first). */
  get shortBy(): number {
    return Math.max(0, this.needed, this.retryAt) - this.buffered;
  }

  /** A big value could be parsed again, but waits for more bytes: push with `force` when none are coming. */
  get deferring(): boolean {
    return this.buffered >= this.needed && this.buffered < this.retryAt;
  }

  /** Bytes pushed after the end of the RDB (the replication stream that follows it). */
  rest(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Feeds bytes; returns the entries complete so far. `force`: parse even while deferring (nothing more came). */
  push(chunk: Buffer, force = false): RdbEvent[] {
    if (this.ended) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      return [];
    }
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed || (!force && this.buffered < this.retryAt)) return [];
    this.retryAt = 0;
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const events: RdbEvent[] = [];
    let pos = 0;
    try {
      if (this.version === 0) pos = this.header(buf);
      while (!this.ended) {
        const start = pos;
        const cursor = new Cursor(buf, pos, start);
        if (this.unfolding) {
          this.addWrites(this.unfolding.step(cursor), events);
          pos = cursor.pos;
          if (this.unfolding.done) {
            this.flushPiece(events);
            events.push({ kind: 'bigKeyEnd', fieldTtls: this.unfolding.fieldTtls });
            this.unfolding = undefined;
          }
          continue;
        }
        const event = this.entry(cursor);
        pos = cursor.pos;
        if (event) events.push(event);
      }
    } catch (err) {
      if (!(err instanceof NeedMore)) throw err;
      this.flushPiece(events);
      // A value is parsed again from its start once the bytes it needs are here. A big one (a hash of millions of
      // fields) ran out of bytes a chunk at a time, and parsing it again per chunk never finished: wait for twice
      // what it has so far, so the reads of it add up to a few times its size.
      const entry = buf.length - pos;
      this.needed = Math.max(err.total, 1);
      this.retryAt = entry >= BIG_ENTRY_BYTES && !this.unfolding ? 2 * entry : 0;
    }
    this.consumed += pos;
    const rest = buf.subarray(pos);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    if (this.ended) this.needed = 0;
    return events;
  }

  private startUnfolding(c: Cursor, start: number, key: Buffer, type: number): RdbEvent {
    c.pos = start;
    this.unfolding = new Unfolder(type, { now: this.options.now ?? Date.now() });
    const expireAt = this.expireAt;
    this.expireAt = -1;
    return { kind: 'bigKey', db: this.db, key, type, expireAt };
  }

  /** Writes of an unfolded value join the piece (consecutive additions as one command); a full piece goes out. */
  private addWrites(writes: Write[], events: RdbEvent[]): void {
    for (const write of writes) {
      const last = this.piece[this.piece.length - 1];
      if (write.merge && last?.merge && last.command[0] === write.command[0] && last.args.length < 2 * PIECE_ELEMENTS)
        last.args.push(...write.args);
      else this.piece.push({ ...write, args: [...write.args] });
      this.pieceElements += write.args.length;
      for (const arg of write.args) this.pieceBytes += arg.length;
    }
    if (this.pieceElements >= 2 * PIECE_ELEMENTS || this.pieceBytes >= PIECE_BYTES) this.flushPiece(events);
  }

  private flushPiece(events: RdbEvent[]): void {
    if (this.piece.length === 0) return;
    events.push({ kind: 'bigPiece', writes: this.piece });
    this.piece = [];
    this.pieceElements = 0;
    this.pieceBytes = 0;
  }

  private header(buf: Buffer): number {
    if (buf.length < 9) throw new NeedMore(9);
    const { magic, version } = rdbHeader(buf);
    if (magic === undefined) throw new RdbError('not an RDB file (no REDIS or VALKEY header)');
    // The version says what the type bytes mean (servers.ts): Valkey's own versions come with its magic only.
    if ((magic === 'VALKEY') !== isValkeyRdb(version))
      throw new RdbError(`an RDB of version ${version} under the magic ${magic}, which no server writes`);
    this.version = version;
    return 9;
  }

  private entry(c: Cursor): RdbEvent | undefined {
    let type = c.byte();
    switch (type) {
      case OP.AUX: {
        const name = c.string().toString();
        return { kind: 'aux', name, value: c.string().toString() };
      }
      case OP.RESIZEDB:
        c.len();
        c.len();
        return undefined;
      case OP.SLOT_INFO:
        c.len();
        c.len();
        c.len();
        return undefined;
      case OP.SLOT_IMPORT:
        c.skipString(); // the job's name
        for (let ranges = c.len(); ranges > 0; ranges--) {
          c.len();
          c.len();
        }
        return undefined;
      case OP.SELECTDB:
        this.db = c.len();
        return undefined;
      case OP.EXPIRETIME_MS:
        this.expireAt = Number(c.bytes(8).readBigInt64LE(0));
        return undefined;
      case OP.EXPIRETIME:
        this.expireAt = c.bytes(4).readInt32LE(0) * 1000;
        return undefined;
      case OP.IDLE:
        c.len();
        return undefined;
      case OP.FREQ:
        c.skip(1);
        return undefined;
      case OP.FUNCTION2:
        return { kind: 'function', code: c.string() };
      case OP.FUNCTION_PRE_GA:
        throw new RdbError('functions saved by a Redis 7.0 release candidate, which this reader does not take');
      case OP.MODULE_AUX:
        throw new RdbError('module data (MODULE_AUX), which only the module that wrote it can read');
      case OP.EOF:
        if (this.version >= 5) c.skip(8);
        this.ended = true;
        return { kind: 'end' };
      default: {
        type = typeOfByte(type, this.version);
        const key = c.string();
        const start = c.pos;
        const unfold = this.options.unfoldBytes !== undefined && UNFOLDABLE_TYPES.has(type);
        try {
          skipValue(c, type);
          if (unfold && c.pos - start > this.options.unfoldBytes!) return this.startUnfolding(c, start, key, type);
        } catch (err) {
          // A value still arriving past 1 MB is read in pieces from its start: waiting for the rest of it would hold
          // it whole (and parse it again as it grows), which is what unfolding spares the worker's memory.
          if (
            err instanceof NeedMore &&
            unfold &&
            c.bytesFrom(start) >= Math.min(this.options.unfoldBytes!, BIG_ENTRY_BYTES)
          )
            return this.startUnfolding(c, start, key, type);
          if (err instanceof RdbError)
            throw new RdbError(
              `key ${JSON.stringify(key.toString())} (type ${TYPE_NAMES[type] ?? type}): ${err.message}`,
            );
          throw err;
        }
        const value = Buffer.from(c.bytesBetween(start));
        const expireAt = this.expireAt;
        this.expireAt = -1;
        return { kind: 'key', db: this.db, key, type, value, expireAt };
      }
    }
  }
}

/** "REDIS0011" or "VALKEY080": the magic and the version of an RDB file; no magic when it has neither. */
export function rdbHeader(head: Buffer): { magic?: 'REDIS' | 'VALKEY'; version: number } {
  const text = head.subarray(0, 9).toString('latin1');
  const match = /^(REDIS|VALKEY)(\d+)$/.exec(text);
  if (!match || text.length !== 9) return { version: 0 };
  return { magic: match[1] as 'REDIS' | 'VALKEY', version: Number(match[2]) };
}

/** The DUMP payload of a value (by its neutral type id) read from an RDB: what RESTORE takes. */
export function dumpPayload(type: number, value: Buffer, rdbVersion: number): Buffer {
  const payload = Buffer.allocUnsafe(1 + value.length + 10);
  payload[0] = byteOfType(type);
  value.copy(payload, 1);
  payload.writeUInt16LE(rdbVersion, 1 + value.length);
  crc64(payload.subarray(0, payload.length - 8)).copy(payload, payload.length - 8);
  return payload;
}
