/**
 * A replica's link to a source master, as Redis replicas speak it: AUTH, REPLCONF listening-port, REPLCONF capa eof
 * capa psync2, PSYNC <replid> <offset>; then the snapshot (an RDB, as `$<length>` or between `$EOF:<mark>` marks)
 * after +FULLRESYNC, and the stream of write commands. The replica answers only REPLCONF ACK <offset>.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { ResolvedAuth } from '../../redis/auth';
import type { TlsMaterial } from '../../redis/connection';
import { encodeCommands } from '../../redis/bulk';

export type PsyncReply = { kind: 'full'; replid: string; offset: number } | { kind: 'continue'; replid?: string };

/** The source refused the handshake (credentials, ACL, not a master): no retry helps. */
export class LinkRefused extends Error {
  override name = 'LinkRefused';
}

/** How the snapshot that follows +FULLRESYNC is framed. */
export type RdbFraming = { length: number } | { eofMark: Buffer };

const MAX_QUEUED = 8 * 1024 * 1024;

export class ReplicaLink {
  private queue: Buffer[] = [];
  private queued = 0;
  private wake?: () => void;
  private closedWith?: Error;

  private constructor(
    private readonly socket: net.Socket,
    readonly address: string,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued > MAX_QUEUED) socket.pause(); // the master's buffer holds the rest
      this.wake?.();
    });
    const end = (err: Error) => {
      this.closedWith ??= err;
      this.wake?.();
    };
    socket.on('error', (err) => end(new Error(`replication link to ${address}: ${err.message}`, { cause: err })));
    socket.on('close', () => end(new Error(`replication link to ${address} closed by the source`)));
  }

  /** Connects in plain TCP, or in TLS with `options.tls` (the source's, migration.source.tls). */
  static async open(
    host: string,
    port: number,
    options: { timeoutMs?: number; tls?: TlsMaterial } = {},
  ): Promise<ReplicaLink> {
    const address = `${host}:${port}`;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = options.tls ? tls.connect({ host, port, ...options.tls }) : net.connect({ host, port });
      const timer = setTimeout(
        () => (s.destroy(), reject(new Error(`${address}: no connection`))),
        options.timeoutMs ?? 5000,
      );
      s.once(options.tls ? 'secureConnect' : 'connect', () => (clearTimeout(timer), resolve(s)));
      s.once('error', (err) => (clearTimeout(timer), reject(new Error(`${address}: ${err.message}`, { cause: err }))));
    });
    return new ReplicaLink(socket, address);
  }

  /** The source closed the link (or it broke): what it said, if so. */
  get closedBy(): Error | undefined {
    return this.closedWith;
  }

  /** Waits for bytes: the next chunk, or undefined after `timeoutMs`. A closed link throws. */
  async next(timeoutMs: number): Promise<Buffer | undefined> {
    if (this.queue.length === 0 && !this.closedWith) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.wake = () => (clearTimeout(timer), resolve());
      });
      this.wake = undefined;
    }
    const chunk = this.queue.shift();
    if (!chunk) {
      if (this.closedWith) throw this.closedWith;
      return undefined;
    }
    this.queued -= chunk.length;
    if (this.queued < MAX_QUEUED / 2 && this.socket.isPaused()) this.socket.resume();
    return chunk;
  }

  /** Bytes not taken yet go back to the front (what follows a line, or the snapshot). */
  unshift(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.queue.unshift(bytes);
    this.queued += bytes.length;
  }

  /** One reply line, without CRLF; keepalive newlines (sent while the master prepares a snapshot) are skipped. */
  private async line(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let pending = Buffer.alloc(0);
    for (;;) {
      let start = 0;
      while (start < pending.length && pending[start] === 0x0a) start++;
      const lf = pending.indexOf(0x0a, start);
      if (lf >= 0) {
        this.unshift(pending.subarray(lf + 1));
        return pending.subarray(start, lf).toString('latin1').replace(/\r$/, '');
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.address}: no reply within ${timeoutMs} ms`);
      const chunk = await this.next(left);
      if (chunk) pending = Buffer.concat([pending.subarray(start), chunk]);
    }
  }

  private async expectOk(command: (string | number)[], what: string): Promise<void> {
    this.socket.write(encodeCommands([command]));
    const reply = await this.line(10_000);
    if (!reply.startsWith('+')) throw new LinkRefused(`${this.address} refused ${what}: ${reply.replace(/^-/, '')}`);
  }

  /**
   * The handshake up to PSYNC: `listeningPort` is what the source shows for this replica in INFO replication.
   * `replicaVersion`: the version this replica says it is (Valkey 9+ sends a replica the RDB format of its version).
   * A source with ACLs needs the user to allow AUTH, REPLCONF, PSYNC and SYNC.
   */
  async handshake(auth: ResolvedAuth, listeningPort: number, replicaVersion?: string): Promise<void> {
    if (auth.password !== undefined)
      await this.expectOk(
        auth.username ? ['AUTH', auth.username, auth.password] : ['AUTH', auth.password],
        'the credentials',
      );
    await this.expectOk(['REPLCONF', 'listening-port', listeningPort], 'REPLCONF listening-port');
    await this.expectOk(['REPLCONF', 'capa', 'eof', 'capa', 'psync2'], 'REPLCONF capa');
    if (replicaVersion) await this.expectOk(['REPLCONF', 'version', replicaVersion], 'REPLCONF version');
  }

  /** PSYNC: `replid` "?" and offset -1 ask for a snapshot; otherwise the stream from `offset` (the next byte). */
  async psync(replid: string, offset: number): Promise<PsyncReply> {
    this.socket.write(encodeCommands([['PSYNC', replid, offset]]));
    const reply = await this.line(60_000);
    const full = /^\+FULLRESYNC (\S+) (\d+)$/.exec(reply);
    if (full) return { kind: 'full', replid: full[1]!, offset: Number(full[2]) };
    const cont = /^\+CONTINUE(?: (\S+))?$/.exec(reply);
    if (cont) return { kind: 'continue', replid: cont[1] };
    throw new (/^-(NOMASTERLINK|LOADING)/.test(reply) ? Error : LinkRefused)(
      `${this.address} answered PSYNC with ${reply.replace(/^-/, '')}`,
    );
  }

  /** How the snapshot after +FULLRESYNC is framed (a disk-based sync may send newlines first). */
  async rdbFraming(): Promise<RdbFraming> {
    const header = await this.line(10 * 60_000);
    if (header.startsWith('$EOF:')) return { eofMark: Buffer.from(header.slice(5), 'latin1') };
    if (/^\$\d+$/.test(header)) return { length: Number(header.slice(1)) };
    throw new Error(`${this.address}: expected the snapshot, got ${JSON.stringify(header.slice(0, 40))}`);
  }

  /** REPLCONF ACK: tells the source how far this replica has applied the stream (shown in its INFO replication). */
  ack(offset: number): void {
    if (!this.closedWith) this.socket.write(encodeCommands([['REPLCONF', 'ACK', offset]]));
  }

  close(): void {
    this.closedWith ??= new Error(`replication link to ${this.address} closed`);
    this.socket.destroy();
  }
}
