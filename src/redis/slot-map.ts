/** The target cluster's slot owners, with one connection per master; refreshed on MOVED/ASK. */
import calculateSlot from 'cluster-key-slot';
import type Redis from 'ioredis';
import { SLOT_COUNT } from '../model/slots';
import { groupBy } from '../model/group-by';
import { type Arg, BulkConnection, type Reply } from './bulk';
import { type NodeAddress, connectNode } from './connection';
import type { Router } from './redirects';

export class SlotMap implements Router {
  /** Shared with the maps of other databases (onDatabase): one refresh serves them all. */
  private table: { owners: (string | undefined)[]; masters?: string[] } = { owners: new Array(SLOT_COUNT) };
  private readonly clients = new Map<string, Redis>();
  private readonly opening = new Map<string, Promise<Redis>>();
  private readonly bulks = new Map<string, Promise<BulkConnection>>();
  private readonly databases = new Map<number, SlotMap>();

  /** `db`: the database this map's connections are on (Valkey 9+ clusters with cluster-databases). */
  constructor(
    private readonly seeds: NodeAddress[],
    readonly db = 0,
  ) {}

  private get owners(): (string | undefined)[] {
    return this.table.owners;
  }

  /**
   * The same cluster, its connections on database `db`: the same slot owners (refreshed together), connections of its
   * own, closed with this map's.
   */
  onDatabase(db: number): SlotMap {
    if (db === this.db) return this;
    let map = this.databases.get(db);
    if (!map) {
      map = new SlotMap(this.seeds, db);
      map.table = this.table;
      this.databases.set(db, map);
    }
    return map;
  }

  /** Reads CLUSTER SLOTS from the first seed that answers. */
  async refresh(): Promise<void> {
    let lastError: unknown;
    for (const seed of this.seeds) {
      try {
        const client = await this.client(`${seed.host}:${seed.port}`);
        const slots = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
        const owners: (string | undefined)[] = new Array(SLOT_COUNT);
        for (const [start, end, [host, port]] of slots)
          for (let s = start; s <= end; s++) owners[s] = `${host}:${port}`;
        this.table.owners = owners;
        this.table.masters = undefined;
        return;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('no target node answered CLUSTER SLOTS');
  }

  uncoveredSlots(): number[] {
    const missing: number[] = [];
    for (let s = 0; s < SLOT_COUNT; s++) if (!this.owners[s]) missing.push(s);
    return missing;
  }

  ownerOfSlot(slot: number): string {
    const owner = this.owners[slot];
    if (!owner) throw new Error(`target slot ${slot} has no owner`);
    return owner;
  }

  ownerOf(key: Buffer): string {
    return this.ownerOfSlot(calculateSlot(key));
  }

  masters(): readonly string[] {
    // Once per refresh: the loads ask for every batch and checkpoint, and the walk over 16,384 slots showed there.
    return (this.table.masters ??= [...new Set(this.owners.filter((o): o is string => o !== undefined))]);
  }

  /** The connection to `address`, opened once (callers at the same moment share the opening) and again once lost. */
  async client(address: string): Promise<Redis> {
    const client = this.clients.get(address);
    if (client && client.status !== 'end' && client.status !== 'close') return client;
    let opening = this.opening.get(address);
    if (!opening) {
      const [host, port] = splitAddress(address);
      opening = connectNode({ host, port }, { db: this.db }).then(
        (connected) => (this.clients.set(address, connected), connected),
      );
      this.opening.set(address, opening);
      void opening.then(
        () => this.opening.delete(address),
        () => this.opening.delete(address),
      );
    }
    return opening;
  }

  /** Sends commands to `address` in one round trip (see BulkConnection): the Router of sendFollowingRedirects. */
  async send(address: string, commands: Arg[][]): Promise<Reply[]> {
    return (await this.bulk(address)).exec(commands);
  }

  /** A batch connection to `address` (see BulkConnection), opened once and again after it was lost. */
  async bulk(address: string): Promise<BulkConnection> {
    const existing = this.bulks.get(address);
    if (existing) {
      const connection = await existing.catch(() => undefined);
      if (connection && !connection.closed) return connection;
    }
    const [host, port] = splitAddress(address);
    const opening = BulkConnection.open({ host, port }, { db: this.db });
    this.bulks.set(address, opening);
    return opening;
  }

  close(): void {
    for (const map of this.databases.values()) map.close();
    for (const client of this.clients.values()) client.disconnect();
    this.clients.clear();
    for (const opening of this.opening.values())
      void opening.then(
        (c) => c.disconnect(),
        () => undefined,
      );
    for (const opening of this.bulks.values())
      void opening.then(
        (c) => c.close(),
        () => undefined,
      );
    this.bulks.clear();
  }
}

export function splitAddress(address: string): [string, number] {
  const index = address.lastIndexOf(':');
  return [address.slice(0, index), Number(address.slice(index + 1))];
}

/** Groups items by the master that owns the slot of their key. */
export function groupByOwner<T>(items: T[], map: SlotMap, keyOf: (item: T) => Buffer): Map<string, T[]> {
  return groupBy(items, (item) => map.ownerOf(keyOf(item)));
}

/** Server errors classified by their first word, as the cluster protocol defines them. */
export function redirection(err: unknown): 'MOVED' | 'ASK' | 'TRYAGAIN' | 'CLUSTERDOWN' | 'LOADING' | undefined {
  const word = (err as Error)?.message?.split(' ')[0];
  return word === 'MOVED' || word === 'ASK' || word === 'TRYAGAIN' || word === 'CLUSTERDOWN' || word === 'LOADING'
    ? word
    : undefined;
}
