/**
 * Applies stream commands to the cluster exactly once. A batch goes to each slot as one script that also sets that
 * slot's checkpoint (a cluster takes nothing atomic across slots), so a crash at any moment leaves each slot either
 * without its commands and with the old checkpoint, or with both: a resumed sync skips, per slot, what the slot
 * already holds. The script skips it too, in the node, so that an older attempt still running cannot apply anything
 * twice or out of order (fence.ts). A source transaction (MULTI/EXEC, also what scripts propagate) stays atomic per
 * slot.
 */
import { type Arg, type Reply, ReplyError } from '../../redis/bulk';
import { type SlotMap, redirection } from '../../redis/slot-map';
import { groupBy } from '../../model/group-by';
import type { SyncCheckpoint, SyncKeys } from './checkpoints';
import { type CommandTable, routeCommand, scriptable } from './commands';
import { APPLY_SLOT_IN_DATABASES_SHA, APPLY_SLOT_SHA, Superseded, setIfCurrent, slotApplied, slotStamp } from './fence';
import type { StreamCommand } from './stream';
import { SyncRefused, text } from './refused';
import type { DestinationBytes } from '../sources';
import { inDatabases } from './target-databases';

interface Pending {
  slot?: number;
  /** The target database (migration.source.databases). */
  db: number;
  /** Every master (functions). */
  everywhere?: boolean;
  command: Buffer[];
  /** The offset after the stream command it comes from. */
  end: number;
}

export interface ApplierOptions {
  map: SlotMap;
  table: CommandTable;
  /** Source database -> its target database and key prefix; a database not listed is refused. */
  destinations: Map<number, DestinationBytes>;
  replid: string;
  keys: SyncKeys;
  /** Slot -> the offset it already holds (commands up to it are skipped there). */
  slotOffsets: Map<number, number>;
  /** This attempt's generation (fence.ts). */
  generation: number;
}

/** Errors a node gives for now (full, loading, failing over): the activity is retried, nothing was applied. */
const TRANSIENT = /^(OOM|LOADING|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|BUSY)/;

export class StreamApplier {
  private db: number;
  /** The database at the settled offset: what the checkpoint records. */
  private settledDb: number;
  private batch: Pending[] = [];
  private transaction?: Pending[];
  /** The offset after the last command outside an open transaction: what a flush can checkpoint. */
  private settled: number;
  /** Ops applied (commands sent to an owner), for rates. */
  applied = 0;
  /** Set when the stream asked for an acknowledgement (REPLCONF GETACK). */
  ackWanted = false;

  /** `db`: the source database the stream is in at `start` (from the checkpoint, or the snapshot's repl-stream-db). */
  constructor(
    private readonly options: ApplierOptions,
    start: number,
    db: number,
  ) {
    this.settled = start;
    this.db = db;
    this.settledDb = db;
  }

  /** The offset everything up to which is in the batch (or applied). */
  get position(): number {
    return this.settled;
  }

  get pendingOps(): number {
    return this.batch.length;
  }

  /** Routes stream commands into the batch; throws SyncRefused for one the cluster cannot take. */
  add(commands: StreamCommand[]): void {
    for (const { args, end } of commands) {
      const name = args[0]?.toString('latin1').toLowerCase() ?? '';
      if (name === 'replconf' && args[1]?.toString('latin1').toLowerCase() === 'getack') this.ackWanted = true;
      const to = this.options.destinations.get(this.db);
      const route = routeCommand(this.options.table, args, to?.prefix);
      const db = to?.db ?? 0;
      switch (route.kind) {
        case 'skip':
          break;
        case 'select':
          if (!this.options.destinations.has(route.db))
            throw new SyncRefused(
              `the source writes to database ${route.db}, which migration.source.databases does not map into the cluster`,
              text(args),
              end,
            );
          this.db = route.db;
          break;
        case 'multi':
          this.transaction = [];
          break;
        case 'exec':
          this.batch.push(...(this.transaction ?? []));
          this.transaction = undefined;
          break;
        case 'every-master':
          (this.transaction ?? this.batch).push({ everywhere: true, db, command: route.command, end });
          break;
        case 'slots':
          for (const part of route.parts)
            (this.transaction ?? this.batch).push({ slot: part.slot, db, command: part.command, end });
          break;
        case 'refuse':
          throw new SyncRefused(route.reason, text(args), end);
      }
      if (!this.transaction) {
        this.settled = end;
        this.settledDb = this.db;
      }
    }
  }

  /**
   * Applies the batch up to the settled offset (an open source transaction waits for its EXEC): one transaction per
   * slot, each with the slot's checkpoint; then every master's applied offset. Resolves to the offset applied.
   */
  async flush(): Promise<number> {
    const offset = this.settled;
    const db = this.settledDb;
    const batch = this.batch;
    this.batch = [];
    const map = this.options.map;
    // Functions live on every master, outside transactions (loading one again changes nothing).
    for (const pending of batch.filter((p) => p.everywhere)) await this.everywhere(pending);
    let slots = this.bySlot(batch.filter((p) => !p.everywhere));
    for (let attempt = 1; slots.size > 0; attempt++) {
      const moved = await this.send(slots, offset);
      if (moved.size === 0) break;
      if (attempt >= 5) throw new Error(`the cluster kept answering MOVED for slot ${[...moved.keys()][0]}`);
      // Those slots applied nothing (their transaction aborted): again, to their new owners.
      await map.refresh();
      slots = moved;
    }
    for (const slot of this.bySlot(batch.filter((p) => !p.everywhere)).keys())
      this.options.slotOffsets.set(slot, offset);
    this.applied += batch.length;
    const { generation } = this.options;
    const checkpoint = JSON.stringify({
      replid: this.options.replid,
      offset,
      phase: 'streaming',
      db,
      generation,
    } satisfies SyncCheckpoint);
    await Promise.all(
      map.masters().map((owner) => setIfCurrent(map, owner, this.options.keys.master(owner), checkpoint, generation)),
    );
    return offset;
  }

  /** The batch by slot, in order, without what a slot already holds. */
  private bySlot(batch: Pending[]): Map<number, Pending[]> {
    const offsets = this.options.slotOffsets;
    return groupBy(
      batch.filter((pending) => pending.end > (offsets.get(pending.slot!) ?? -1)),
      (pending) => pending.slot!,
    );
  }

  private async everywhere(pending: Pending): Promise<void> {
    await Promise.all(
      this.options.map.masters().map(async (owner) => {
        const [reply] = await (await this.options.map.bulk(owner)).exec([pending.command]);
        // Deleting a library this sync already deleted before it was interrupted is no failure.
        if (reply instanceof ReplyError && !/Library not found/i.test(reply.message))
          throw new SyncRefused(`${owner} refused it (${reply.message})`, text(pending.command), pending.end);
      }),
    );
  }

  /**
   * One script per slot (fence.ts), with the slot's checkpoint, each owner's in one round trip; a MULTI ... EXEC for a
   * slot with a command no script can run. Returns the slots whose owner answered MOVED (nothing of them applied).
   */
  private async send(slots: Map<number, Pending[]>, offset: number): Promise<Map<number, Pending[]>> {
    const map = this.options.map;
    const { replid, generation, table } = this.options;
    const stamp = slotStamp(replid, offset, generation);
    const byOwner = groupBy(slots, ([slot]) => map.ownerOfSlot(slot));
    const moved = new Map<number, Pending[]>();
    await Promise.all(
      [...byOwner].map(async ([owner, groups]) => {
        const commands: Arg[][] = [];
        const scripted = groups.map(([, pending]) => pending.every((p) => scriptable(table, p.command)));
        for (const [n, [slot, pending]] of groups.entries()) {
          if (scripted[n]) {
            // Commands into other target databases carry theirs, in the script that selects them.
            const inDatabases = pending.some((p) => p.db !== 0);
            const args: Arg[] = [
              'EVALSHA',
              inDatabases ? APPLY_SLOT_IN_DATABASES_SHA : APPLY_SLOT_SHA,
              1,
              this.options.keys.slot(slot),
              generation,
              replid,
              offset,
            ];
            for (const p of pending)
              if (inDatabases) args.push(p.end, p.db, p.command.length, ...p.command);
              else args.push(p.end, p.command.length, ...p.command);
            commands.push(args);
          } else
            commands.push(
              ['MULTI'],
              ...inDatabases(pending).commands,
              ['SET', this.options.keys.slot(slot), stamp],
              ['EXEC'],
            );
        }
        const replies = await (await map.bulk(owner)).exec(commands);
        let at = 0;
        for (const [n, [slot, pending]] of groups.entries()) {
          if (scripted[n]) {
            const reply = replies[at++]!;
            if (reply instanceof ReplyError) {
              // Refused before it ran: nothing of it applied. A node that restarted lost the script (NOSCRIPT).
              if (redirection(reply) === 'MOVED') moved.set(slot, pending);
              else if (TRANSIENT.test(reply.message) || reply.message.startsWith('NOSCRIPT'))
                throw new Error(`${owner} refused to apply slot ${slot} for now: ${reply.message}`);
              else
                throw new SyncRefused(`the cluster refused it (${reply.message})`, text(pending[0]!.command), offset);
              continue;
            }
            const outcome = slotApplied(reply);
            if (outcome.kind === 'superseded') throw new Superseded(`slot ${slot}`, generation, outcome.newer);
            if (outcome.failedAt > 0) {
              const command = pending[outcome.failedAt - 1]!;
              throw new SyncRefused(
                `the cluster answered ${outcome.failure}; from here the cluster and the source differ`,
                text(command.command),
                command.end,
              );
            }
            continue;
          }
          // Without the replies of the SELECTs inDatabases added: one per pending command, then the stamp's.
          const { added } = inDatabases(pending);
          const selects = added.size;
          const ofPending = (list: Reply[]) => list.filter((_, i) => !added.has(i));
          const queued = ofPending(replies.slice(at + 1, at + 2 + pending.length + selects));
          const executed = replies[at + 2 + pending.length + selects];
          const result = Array.isArray(executed) ? ofPending(executed as Reply[]) : executed;
          at += pending.length + selects + 3;
          const rejected = queued.findIndex((r) => r instanceof ReplyError);
          if (rejected >= 0) {
            // Refused when queued: the transaction was discarded, nothing of it applied.
            const error = queued[rejected] as ReplyError;
            if (redirection(error) === 'MOVED') {
              moved.set(slot, pending);
              continue;
            }
            const command = pending[rejected];
            if (!command || TRANSIENT.test(error.message))
              throw new Error(`${owner} refused a transaction for now: ${error.message}`);
            throw new SyncRefused(`the cluster refused it (${error.message})`, text(command.command), command.end);
          }
          if (!Array.isArray(result))
            throw new Error(
              `${owner}: the transaction of slot ${slot} failed: ${result instanceof ReplyError ? result.message : String(result)}`,
            );
          const failed = (result as Reply[]).findIndex((r) => r instanceof ReplyError);
          if (failed >= 0 && failed < pending.length) {
            const command = pending[failed]!;
            throw new SyncRefused(
              `the cluster answered ${(result[failed] as ReplyError).message}; from here the cluster and the source differ`,
              text(command.command),
              command.end,
            );
          }
        }
      }),
    );
    return moved;
  }
}
