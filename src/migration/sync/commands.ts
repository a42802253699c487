/**
 * Routing the commands of a replication stream into a cluster: which arguments are keys (from the cluster's own
 * COMMAND table, plus rules for the few commands whose keys move), their slot, the database prefix, and what a
 * cluster cannot take as it is. Pure once the table is loaded.
 */
import calculateSlot from 'cluster-key-slot';

export interface KeySpec {
  first: number;
  /** Negative: counted from the end (-1 is the last argument). */
  last: number;
  step: number;
  /** The key positions depend on the arguments (ZUNIONSTORE, SORT ... STORE). */
  movable: boolean;
  /** Not allowed in a script (applied in a MULTI/EXEC instead). */
  noscript?: boolean;
}

/** Lower-case command name (or "container|sub") -> where its keys are. */
export type CommandTable = Map<string, KeySpec>;

/** Builds the table from a `COMMAND` reply: [name, arity, flags, first, last, step, acl, tips, keyspecs, subs]. */
export function commandTable(reply: unknown[]): CommandTable {
  const table: CommandTable = new Map();
  const add = (entry: unknown[]) => {
    const [name, , flags, first, last, step] = entry as [string, number, string[], number, number, number];
    table.set(String(name).toLowerCase(), {
      first: Number(first),
      last: Number(last),
      step: Number(step),
      movable: (flags ?? []).map(String).includes('movablekeys'),
      noscript: (flags ?? []).map(String).includes('noscript'),
    });
    for (const sub of (entry[9] as unknown[][] | undefined) ?? []) add(sub);
  };
  for (const entry of reply) add(entry as unknown[]);
  return table;
}

/** What to do with one command of the stream. */
export type Route =
  | { kind: 'skip' }
  | { kind: 'select'; db: number }
  | { kind: 'multi' }
  | { kind: 'exec' }
  /** Commands for one slot each (one, or a multi-key command split by slot). */
  | { kind: 'slots'; parts: { slot: number; command: Buffer[] }[] }
  /** Functions live on every master. */
  | { kind: 'every-master'; command: Buffer[] }
  | { kind: 'refuse'; reason: string };

const lower = (arg: Buffer | undefined) => (arg ? arg.toString('latin1').toLowerCase() : '');

/** Not writes: never applied. */
const IGNORED = new Set(['ping', 'publish', 'spublish', 'replconf']);
/** Multi-key commands whose keys are independent of each other: split by slot. MSETNX is propagated only when it set
 * every key, so it is an MSET. */
const SPLITTABLE: Record<string, { pairs: boolean; as?: string }> = {
  del: { pairs: false },
  unlink: { pairs: false },
  mset: { pairs: true },
  msetnx: { pairs: true, as: 'MSET' },
};

/** Key positions of a command whose keys move with its arguments; undefined when no rule is known here. */
function movableKeys(name: string, args: Buffer[]): number[] | undefined {
  if (name === 'zunionstore' || name === 'zinterstore' || name === 'zdiffstore') {
    const count = Number(args[2]?.toString());
    return [1, ...Array.from({ length: count }, (_, i) => 3 + i)];
  }
  if (name === 'sort' || name === 'georadius' || name === 'georadiusbymember') {
    const keys = [1];
    args.forEach((arg, i) => {
      const word = lower(arg);
      if ((word === 'store' || word === 'storedist') && i + 1 < args.length && i > 1) keys.push(i + 1);
    });
    return keys;
  }
  return undefined;
}

/**
 * Whether a script can run the command (fence.ts). One that cannot is applied in a MULTI/EXEC instead, where only
 * this attempt's own record of the slot offsets guards it: more arguments than Lua passes to one call (its stack
 * holds 8000), or flagged noscript.
 */
export const SCRIPT_MAX_ARGS = 7900;

export function scriptable(table: CommandTable, args: Buffer[]): boolean {
  if (args.length > SCRIPT_MAX_ARGS) return false;
  const name = lower(args[0]);
  return !(table.get(`${name}|${lower(args[1])}`) ?? table.get(name))?.noscript;
}

export function keyPositions(table: CommandTable, args: Buffer[]): number[] | undefined {
  const name = lower(args[0]);
  const spec = table.get(`${name}|${lower(args[1])}`) ?? table.get(name);
  if (!spec) return undefined;
  if (spec.movable) {
    const moving = movableKeys(name, args);
    if (moving) return moving;
  }
  if (spec.first === 0) return [];
  const last = spec.last < 0 ? args.length + spec.last : spec.last;
  const positions: number[] = [];
  for (let i = spec.first; i <= last && i < args.length; i += Math.max(spec.step, 1)) positions.push(i);
  return positions;
}

const withPrefix = (prefix: Buffer | undefined, key: Buffer) => (prefix ? Buffer.concat([prefix, key]) : key);

/**
 * Where one command goes. `prefix` is the current database's key prefix in the cluster (undefined: none);
 * commands the table does not know or that name keys in several slots are refused with the reason.
 */
export function routeCommand(table: CommandTable, args: Buffer[], prefix: Buffer | undefined): Route {
  const name = lower(args[0]);
  if (IGNORED.has(name)) return { kind: 'skip' };
  if (name === 'select') return { kind: 'select', db: Number(args[1]?.toString()) };
  if (name === 'multi') return { kind: 'multi' };
  if (name === 'exec') return { kind: 'exec' };
  if (name === 'flushall' || name === 'flushdb')
    return { kind: 'refuse', reason: `${name.toUpperCase()} would empty the cluster; it is never applied` };
  if (name === 'swapdb' || name === 'move')
    return { kind: 'refuse', reason: `${name.toUpperCase()} moves data between databases, which a cluster has not` };
  if (name === 'copy' && args.some((a, i) => i > 2 && lower(a) === 'db'))
    return { kind: 'refuse', reason: 'COPY ... DB copies into another database, which a cluster has not' };
  if (name === 'function') {
    const sub = lower(args[1]);
    if (sub === 'flush') return { kind: 'refuse', reason: 'FUNCTION FLUSH would remove every function of the cluster' };
    return { kind: 'every-master', command: args };
  }
  const positions = keyPositions(table, args);
  if (positions === undefined)
    return { kind: 'refuse', reason: `${name.toUpperCase()} is not a command the cluster knows` };
  if (positions.length === 0)
    return { kind: 'refuse', reason: `${name.toUpperCase()} names no key, so no slot owns it` };
  const command = [...args];
  const prefixBytes = prefix && prefix.length > 0 ? prefix : undefined;
  for (const i of positions) command[i] = withPrefix(prefixBytes, args[i]!);
  const slots = positions.map((i) => calculateSlot(command[i]!));
  if (slots.every((slot) => slot === slots[0])) return { kind: 'slots', parts: [{ slot: slots[0]!, command }] };
  const split = SPLITTABLE[name];
  if (!split) return { kind: 'refuse', reason: `${name.toUpperCase()} names keys in different slots (cross-slot)` };
  // One command per slot, with that slot's keys (and values) in their order.
  const bySlot = new Map<number, Buffer[]>();
  positions.forEach((i, n) => {
    const parts = bySlot.get(slots[n]!) ?? [];
    parts.push(command[i]!);
    if (split.pairs) parts.push(command[i + 1]!);
    bySlot.set(slots[n]!, parts);
  });
  const verb = Buffer.from(split.as ?? name.toUpperCase());
  return { kind: 'slots', parts: [...bySlot].map(([slot, rest]) => ({ slot, command: [verb, ...rest] })) };
}
