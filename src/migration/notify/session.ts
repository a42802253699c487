/**
 * A subscription to a source master's keyspace notifications (`__keyevent@<db>__:*`), kept by this worker across the
 * sync's chunks: the keys written since are gathered, each once however often it was written (repeats fold while it
 * waits), in the order they were first notified. A subscription that drops (the source closed it, `CLIENT KILL TYPE
 * pubsub`, a network error) is never quietly renewed: what was written meanwhile was not notified to anyone, so the
 * session is marked lost and the next chunk compares every key (a gap pass). One idle for a minute (no chunk of its
 * sync came: the run ended or moved to another worker) closes itself.
 */
import type Redis from 'ioredis';
import { type ClusterAccess, type NodeAddress, connectNode } from '../../redis/connection';

const IDLE_MS = 60_000;
/**
 * Past this many keys waiting (about 100 bytes each in the worker's heap), the session stops gathering them and
 * counts as lost: the next chunk's gap pass compares every key instead.
 */
const MAX_PENDING = 500_000;

export interface PendingKey {
  db: number;
  key: Buffer;
}

const sessions = new Map<string, NotificationSession>();

/** A key as one string: its database, then its bytes one char each (latin1 keeps every byte). */
const nameOf = ({ db, key }: PendingKey) => `${db}:${key.toString('latin1')}`;

function keyOf(name: string): PendingKey {
  const colon = name.indexOf(':');
  return { db: Number(name.slice(0, colon)), key: Buffer.from(name.slice(colon + 1), 'latin1') };
}

export class NotificationSession {
  /** Keys waiting, each as one compact string (`<db>:<name as latin1>`), oldest first. */
  private pending = new Set<string>();
  /**
   * Stream keys: reading a consumer group (XREADGROUP, XACK) changes a stream with no notification, so these are
   * copied again at every chunk's start and at every drain.
   */
  private streams = new Set<string>();
  /** Why the notifications can no longer be trusted to hold every write since the subscription began. */
  lostReason?: string;
  /** Notifications received, and keys taken to be copied. */
  received = 0;
  taken = 0;
  private idle?: NodeJS.Timeout;

  private constructor(
    readonly id: string,
    readonly node: string,
    private readonly subscriber: Redis,
  ) {
    subscriber.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, key: Buffer) => {
      if (this.lostReason) return;
      this.received++;
      const [, db, event] = /^__keyevent@(\d+)__:(.*)$/.exec(channel.toString('latin1')) ?? [];
      const name = nameOf({ db: Number(db ?? 0), key });
      this.pending.add(name);
      if (event?.startsWith('x')) this.streams.add(name);
      if (this.pending.size > MAX_PENDING) this.lose(`more than ${MAX_PENDING} keys waiting`);
    });
    subscriber.on('close', () => this.lose('the source closed the subscription'));
    subscriber.on('error', (err: Error) => this.lose(`the subscription failed: ${err.message}`));
  }

  /** The session of `id` kept by this worker, if it still holds every notification since it began. */
  static find(id: string, node: string): NotificationSession | undefined {
    const session = sessions.get(id);
    if (session && !session.lostReason && session.node === node) return session;
    return undefined;
  }

  /** Why the session this worker had for `id` is not usable (undefined: it never had one). */
  static whyNotUsable(id: string, node: string): string | undefined {
    const session = sessions.get(id);
    if (!session) return undefined;
    return session.lostReason ?? (session.node !== node ? `the source master is now ${node}` : undefined);
  }

  /** Subscribes to the key events of `dbs` on `address`; resolves once the source confirmed the subscription. */
  static async open(
    id: string,
    address: NodeAddress,
    access: ClusterAccess,
    dbs: number[],
  ): Promise<NotificationSession> {
    sessions.get(id)?.close();
    const subscriber = await connectNode(address, { access });
    const session = new NotificationSession(id, `${address.host}:${address.port}`, subscriber);
    sessions.set(id, session);
    await subscriber.psubscribe(...dbs.map((db) => `__keyevent@${db}__:*`));
    return session;
  }

  /** A chunk works with the session: it stays open. */
  attach(): void {
    clearTimeout(this.idle);
  }

  /** The chunk ended: the session keeps gathering until the next one, for a minute at most. */
  detach(): void {
    this.idle = setTimeout(() => this.close(), IDLE_MS);
    this.idle.unref();
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Remembers a stream key found by a full pass. */
  addStream(key: PendingKey): void {
    this.streams.add(nameOf(key));
  }

  /** Every stream key known goes to be copied again (their consumer groups change unnotified). */
  requeueStreams(): void {
    for (const name of this.streams) this.pending.add(name);
  }

  /** Up to `max` keys to copy, oldest first; they leave the session (a key written again comes back). */
  take(max: number): PendingKey[] {
    const taken: PendingKey[] = [];
    for (const name of this.pending) {
      if (taken.length >= max) break;
      this.pending.delete(name);
      taken.push(keyOf(name));
    }
    this.taken += taken.length;
    return taken;
  }

  /**
   * Resolves once every notification the source sent before now has arrived: its answer to a PING comes after them on
   * the same connection.
   */
  async caughtUp(): Promise<void> {
    await this.subscriber.ping();
  }

  private lose(reason: string): void {
    this.lostReason ??= reason;
    this.pending.clear();
  }

  close(): void {
    clearTimeout(this.idle);
    this.lose('closed');
    this.subscriber.disconnect();
    if (sessions.get(this.id) === this) sessions.delete(this.id);
  }
}
