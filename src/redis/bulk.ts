/**
 * A lean connection for batches of thousands of commands: each batch is encoded into one buffer and answered by one
 * promise, replies parsed by redis-parser (ioredis's own parser). ioredis builds an object and a promise per command,
 * which caps a pipeline near 85,000 commands/s on these machines; verify, the live load and the stream apply send
 * five to ten times that. Command errors come back as ReplyError values in the replies; a lost connection rejects.
 */
import net from 'node:net';
import tls from 'node:tls';
import Parser from 'redis-parser';
import { ReplyError } from 'redis-errors';
import { type ClusterAccess, type NodeAddress, NodeAuthError, clusterAccess } from './connection';

export type Arg = string | Buffer | number;
export type Reply = Buffer | number | null | ReplyError | Reply[];

export { ReplyError };

/** Decimal digits of a non-negative integer. */
export function digits(n: number): number {
  let count = 1;
  for (; n >= 10; count++) n = Math.floor(n / 10);
  return count;
}

/** Writes the decimal digits of a non-negative integer at `at`; returns the next position. No string is made. */
export function writeDigits(out: Buffer, at: number, n: number): number {
  const end = at + digits(n);
  for (let i = end - 1; i >= at; i--) {
    out[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return end;
}

/** Writes `<marker><n>\r\n` at `at` (a RESP array or bulk string header); returns the next position. */
export function writeHeader(out: Buffer, at: number, marker: number, n: number): number {
  out[at] = marker;
  const end = writeDigits(out, at + 1, n);
  out[end] = 13;
  out[end + 1] = 10;
  return end + 2;
}

/** Short arguments are copied byte by byte: a call into Buffer's native copy costs more than the copy itself. */
const SHORT = 48;

/** Copies `bytes` into `out` at `at`, byte by byte when short (see SHORT); returns the next position. */
export function put(out: Buffer, at: number, bytes: Buffer): number {
  if (bytes.length > SHORT) return at + bytes.copy(out, at);
  for (let i = 0; i < bytes.length; i++) out[at++] = bytes[i]!;
  return at;
}

/**
 * The RESP encoding of commands, written into one buffer of the exact size: a batch of thousands of commands costs one
 * allocation, not three per argument (which made the worker, not Redis, the limit of a snapshot load). Headers are
 * written digit by digit and short arguments byte by byte: encoding was a fifth of the worker's CPU in a snapshot
 * copy through the worker when it made a string per header.
 */
export function encodeCommands(commands: readonly (readonly Arg[])[]): Buffer {
  let size = 0;
  for (const command of commands) {
    size += 3 + digits(command.length);
    for (const arg of command) {
      const length = Buffer.isBuffer(arg) ? arg.length : Buffer.byteLength(String(arg));
      size += 5 + digits(length) + length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const command of commands) {
    at = writeHeader(out, at, 42, command.length); // '*'
    for (const arg of command) {
      if (Buffer.isBuffer(arg)) {
        at = put(out, writeHeader(out, at, 36, arg.length), arg); // '$'
      } else {
        const text = String(arg);
        const length = Buffer.byteLength(text);
        at = writeHeader(out, at, 36, length);
        // As many bytes as UTF-16 units: every character is ASCII.
        if (length === text.length && length <= SHORT) for (let i = 0; i < length; i++) out[at++] = text.charCodeAt(i);
        else at += out.write(text, at, 'utf8');
      }
      out[at++] = 13;
      out[at++] = 10;
    }
  }
  return out;
}

interface Pending {
  expected: number;
  replies: Reply[];
  resolve: (replies: Reply[]) => void;
  reject: (err: Error) => void;
}

export class BulkConnection {
  private readonly queue: Pending[] = [];
  private closedWith?: Error;
  private readonly parser: Parser;

  private constructor(
    private readonly socket: net.Socket,
    readonly address: string,
  ) {
    this.parser = new Parser({
      returnBuffers: true,
      returnReply: (reply: Reply) => this.deliver(reply),
      returnError: (err) => this.deliver(err as ReplyError),
      returnFatalError: (err) => this.fail(new Error(`${address}: unreadable reply: ${err.message}`)),
    });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.parser.execute(chunk));
    socket.on('error', (err) => this.fail(new Error(`${address}: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new Error(`${address}: connection closed`)));
  }

  /** Connects (TLS and credentials from `access`, by default the current cluster's), then SELECTs `db`. */
  static async open(
    node: NodeAddress,
    options: { access?: ClusterAccess; db?: number; timeoutMs?: number } = {},
  ): Promise<BulkConnection> {
    const access = options.access ?? clusterAccess();
    const address = `${node.host}:${node.port}`;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = access.tls
        ? tls.connect({ host: node.host, port: node.port, ...access.tls })
        : net.connect({ host: node.host, port: node.port });
      const timer = setTimeout(
        () => (s.destroy(), reject(new Error(`${address}: no connection within ${options.timeoutMs ?? 5000} ms`))),
        options.timeoutMs ?? 5000,
      );
      s.once(access.tls ? 'secureConnect' : 'connect', () => (clearTimeout(timer), resolve(s)));
      s.once('error', (err) => (clearTimeout(timer), reject(new Error(`${address}: ${err.message}`, { cause: err }))));
    });
    const connection = new BulkConnection(socket, address);
    const hello: Arg[][] = [];
    const { username, password } = access.auth;
    if (password !== undefined) hello.push(username ? ['AUTH', username, password] : ['AUTH', password]);
    if (options.db) hello.push(['SELECT', options.db]);
    if (hello.length > 0) {
      const replies = await connection.exec(hello);
      const refused = replies.find((r) => r instanceof ReplyError) as ReplyError | undefined;
      if (refused) {
        connection.close();
        if (/WRONGPASS|without any password|invalid (username|password)/i.test(refused.message))
          throw new NodeAuthError(`${address} refused the credentials given for it: ${refused.message}`);
        throw new Error(`${address}: ${refused.message}`);
      }
    }
    return connection;
  }

  /** Sends the commands in one write; resolves with one reply per command, in order. */
  exec(commands: readonly (readonly Arg[])[]): Promise<Reply[]> {
    return this.execEncoded(encodeCommands(commands), commands.length);
  }

  /** Sends `count` commands already encoded as RESP (for encoders that write a batch in place). */
  execEncoded(encoded: Buffer, count: number): Promise<Reply[]> {
    if (count === 0) return Promise.resolve([]);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.queue.push({ expected: count, replies: [], resolve, reject });
      this.socket.write(encoded);
    });
  }

  /** Like exec, but the first command error rejects, naming `what`. */
  async execOrThrow(commands: readonly (readonly Arg[])[], what: string): Promise<Reply[]> {
    const replies = await this.exec(commands);
    const error = replies.find((r) => r instanceof ReplyError) as ReplyError | undefined;
    if (error) throw new Error(`${what} on ${this.address}: ${error.message}`, { cause: error });
    return replies;
  }

  /** One command: its reply, or its error thrown (the shape of ioredis's callBuffer, at a lean connection's cost). */
  readonly call = async (command: string, ...args: Arg[]): Promise<Reply> => {
    const [reply] = await this.exec([[command, ...args]]);
    if (reply instanceof ReplyError) throw reply;
    return reply!;
  };

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  close(): void {
    this.fail(new Error(`${this.address}: connection closed`));
    this.socket.destroy();
  }

  private deliver(reply: Reply): void {
    const pending = this.queue[0];
    if (!pending) return; // a reply nobody asked for (cannot happen on a request/response link)
    pending.replies.push(reply);
    if (pending.replies.length === pending.expected) {
      this.queue.shift();
      pending.resolve(pending.replies);
    }
  }

  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const pending of this.queue.splice(0)) pending.reject(err);
  }
}

/** A lean connection opened on first use (`get`), and closed by `close` if it was. */
export interface LazyBulk {
  get(): Promise<BulkConnection>;
  close(): void;
}

export function lazyBulk(open: () => Promise<BulkConnection>): LazyBulk {
  let opening: Promise<BulkConnection> | undefined;
  return {
    get: () => (opening ??= open()),
    close: () => void opening?.then((c) => c.close()).catch(() => undefined),
  };
}

/** The reply as a number (integer replies, and numbers sent as bulk strings). */
export const asNumber = (reply: Reply | undefined): number =>
  typeof reply === 'number' ? reply : Buffer.isBuffer(reply) ? Number(reply.toString()) : NaN;
