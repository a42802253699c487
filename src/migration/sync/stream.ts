/**
 * The replication stream after the snapshot: RESP arrays of bulk strings (the write commands, PING, SELECT,
 * REPLCONF GETACK), each parsed with the replication offset right after it, which is what a checkpoint records.
 */

export interface StreamCommand {
  args: Buffer[];
  /** The replication offset after this command (the offset of its last byte). */
  end: number;
}

/** The stream is not RESP as Redis sends it: the link must be dropped (it is resumed from the last checkpoint). */
export class StreamError extends Error {
  override name = 'StreamError';
}

const CR = 13;

export class ReplicationStream {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private needed = 1;

  /** `offset`: the replication offset of the byte before the first one pushed. */
  constructor(private offset: number) {}

  /** The offset after the last complete command. */
  get position(): number {
    return this.offset;
  }

  push(chunk: Buffer): StreamCommand[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    if (this.buffered < this.needed) return [];
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const commands: StreamCommand[] = [];
    let pos = 0;
    for (;;) {
      const parsed = this.parseOne(buf, pos);
      if (typeof parsed === 'number') {
        this.needed = parsed;
        break;
      }
      this.offset += parsed.next - pos;
      pos = parsed.next;
      commands.push({ args: parsed.args, end: this.offset });
    }
    const rest = buf.subarray(pos);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return commands;
  }

  /** One command at `pos`, or the number of bytes (from `pos`) needed before it can be read. */
  private parseOne(buf: Buffer, pos: number): { args: Buffer[]; next: number } | number {
    const start = pos;
    const line = (at: number): { value: number; next: number } | undefined => {
      const cr = buf.indexOf(CR, at);
      if (cr < 0 || cr + 1 >= buf.length) return undefined;
      const value = Number(buf.toString('latin1', at + 1, cr));
      if (!Number.isInteger(value))
        throw new StreamError(`not a length: ${JSON.stringify(buf.toString('latin1', at, cr))}`);
      return { value, next: cr + 2 };
    };
    if (pos >= buf.length) return pos - start + 1;
    if (buf[pos] !== 0x2a /* '*' */)
      throw new StreamError(
        `expected an array at offset ${this.offset + 1}, got ${JSON.stringify(buf.toString('latin1', pos, pos + 20))}`,
      );
    const header = line(pos);
    if (!header) return buf.length - start + 1;
    pos = header.next;
    const args: Buffer[] = [];
    for (let i = 0; i < header.value; i++) {
      if (pos >= buf.length) return pos - start + 1;
      if (buf[pos] !== 0x24 /* '$' */)
        throw new StreamError(`expected a bulk string at offset ${this.offset + pos - start + 1}`);
      const length = line(pos);
      if (!length) return buf.length - start + 1;
      const end = length.next + length.value;
      if (end + 2 > buf.length) return end + 2 - start;
      args.push(buf.subarray(length.next, end));
      pos = end + 2;
    }
    return { args, next: pos };
  }
}
