/**
 * Only the newest attempt of a sync writes. Temporal starts a new attempt of a chunk when the last one missed its
 * heartbeats, and the last one may still be running (a stalled worker, not a dead one): two appliers on the same
 * stream. Each attempt takes a generation (INCR), and every write of the sync's state checks it in the target, in
 * the same script that writes:
 * - a slot's commands are applied by one script that skips what the slot already holds (by offset, whichever
 *   attempt applied it) and refuses an attempt older than the slot's last writer;
 * - before a new snapshot is loaded, every slot is stamped with its generation and offset, so an older attempt's
 *   commands are refused there from that moment;
 * - the per-master checkpoints are only set by an attempt at least as new as the one that set them.
 * An attempt refused anywhere stops with Superseded.
 */
import { createHash } from 'node:crypto';
import { SLOT_COUNT } from '../../model';
import { type Reply, ReplyError } from '../../redis/bulk';
import type { SlotMap } from '../../redis/slot-map';
import type { SyncKeys } from './checkpoints';

/** This attempt is no longer the newest: a newer one took over the sync. */
export class Superseded extends Error {
  override name = 'Superseded';
  constructor(where: string, mine: number, newer?: number) {
    super(
      `a newer attempt of this sync${newer === undefined ? '' : ` (generation ${newer})`} took over ${where}; this one (generation ${mine}) stops`,
    );
  }
}

/** A slot stamp: `replid offset generation` (stamps written before generations read as generation 0). */
export const slotStamp = (replid: string, offset: number, generation: number) => `${replid} ${offset} ${generation}`;

/** The generation in a stamp or a checkpoint (JSON with "generation"), 0 when it has none. */
const READ_GENERATION = `
local function generation(value)
  if not value then return 0 end
  return tonumber(string.match(value, '"generation":(%d+)') or string.match(value, '^%S+ %d+ (%d+)$') or '0')
end`;

/**
 * KEYS[1]: the slot's stamp. ARGV: generation, replid, offset (of the batch), then per command: its end offset, (with
 * `inDatabases`: its target database,) its argument count, its arguments. Commands the slot already holds are skipped;
 * the others run like a MULTI/EXEC (an error does not stop the ones after it: the first is returned); with
 * `inDatabases` each in its database (a script's SELECT lasts until the script ends; the stamp is in db 0). The
 * shebang makes Redis refuse the whole script up front when the node is out of memory, instead of failing it half way.
 * Batches all in db 0 use the script without databases: one argument less per command, and the script of syncs
 * started before target databases existed.
 */
function applySlotScript(inDatabases: boolean): string {
  const d = inDatabases ? 1 : 0;
  const select = inDatabases
    ? `
    if ARGV[i + 1] ~= db then
      db = ARGV[i + 1]
      redis.call('SELECT', db)
    end`
    : '';
  return `#!lua
${READ_GENERATION}
local stamp = redis.call('GET', KEYS[1])
local held = tonumber(stamp and string.match(stamp, '^%S+ (%d+)') or '-1')
local newer = generation(stamp)
if newer > tonumber(ARGV[1]) then return {'superseded', newer} end
local applied, failedAt, failure = 0, 0, ''
local i, n${inDatabases ? ", db = 4, 0, '0'" : ' = 4, 0'}
while i <= #ARGV do
  n = n + 1
  local count = tonumber(ARGV[i + ${1 + d}])
  if tonumber(ARGV[i]) > held then${select}
    local reply = redis.pcall(unpack(ARGV, i + ${2 + d}, i + ${1 + d} + count))
    applied = applied + 1
    if failedAt == 0 and type(reply) == 'table' and reply.err then failedAt, failure = n, reply.err end
  end
  i = i + ${2 + d} + count
end${inDatabases ? "\nif db ~= '0' then redis.call('SELECT', 0) end" : ''}
local offset = ARGV[3]
if held > tonumber(offset) then offset = string.match(stamp, '^%S+ (%d+)') end
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. offset .. ' ' .. ARGV[1])
return {'ok', applied, failedAt, failure}`;
}

const APPLY_SLOT = applySlotScript(false);
const APPLY_SLOT_IN_DATABASES = applySlotScript(true);

/** KEYS[1]: a stamp or checkpoint; ARGV: generation, value. Set unless a newer attempt set it: 1, else 0. */
const SET_IF_CURRENT = `#!lua
${READ_GENERATION}
if generation(redis.call('GET', KEYS[1])) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`;

const sha = (script: string) => createHash('sha1').update(script).digest('hex');
const SCRIPTS = { applySlot: APPLY_SLOT, applySlotInDatabases: APPLY_SLOT_IN_DATABASES, setIfCurrent: SET_IF_CURRENT };
export const APPLY_SLOT_SHA = sha(APPLY_SLOT);
export const APPLY_SLOT_IN_DATABASES_SHA = sha(APPLY_SLOT_IN_DATABASES);
export const SET_IF_CURRENT_SHA = sha(SET_IF_CURRENT);

/** Loads the scripts into every master (a node that restarted has lost them: the next attempt loads them again). */
export async function loadFenceScripts(map: SlotMap): Promise<void> {
  await Promise.all(
    map.masters().map(async (owner) =>
      (await map.bulk(owner)).execOrThrow(
        Object.values(SCRIPTS).map((script) => ['SCRIPT', 'LOAD', script]),
        'loading the sync scripts',
      ),
    ),
  );
}

/** This attempt's generation: one more than any attempt before it. */
export async function takeGeneration(map: SlotMap, keys: SyncKeys): Promise<number> {
  return Number(await (await map.client(map.ownerOf(keys.generation))).incr(keys.generation));
}

/** Throws Superseded when a newer attempt took a generation since this one did. */
export async function checkGeneration(map: SlotMap, keys: SyncKeys, generation: number): Promise<void> {
  const latest = Number(await (await map.client(map.ownerOf(keys.generation))).get(keys.generation));
  if (latest > generation) throw new Superseded('the sync', generation, latest);
}

/** Sets `key` to `value` on `owner` unless a newer attempt set it. */
export async function setIfCurrent(
  map: SlotMap,
  owner: string,
  key: Buffer,
  value: string,
  generation: number,
): Promise<void> {
  const [reply] = await (await map.bulk(owner)).exec([['EVALSHA', SET_IF_CURRENT_SHA, 1, key, generation, value]]);
  if (reply instanceof ReplyError) throw new Error(`${owner}: setting ${key.toString()}: ${reply.message}`);
  if (reply === 0) throw new Superseded(`${key.toString()} on ${owner}`, generation);
}

/** Stamps every slot with this attempt's generation and offset (before a snapshot): older attempts stop there. */
export async function stampEverySlot(
  map: SlotMap,
  keys: SyncKeys,
  replid: string,
  offset: number,
  generation: number,
): Promise<void> {
  const stamp = slotStamp(replid, offset, generation);
  await Promise.all(
    map.masters().map(async (owner) => {
      const own = Array.from({ length: SLOT_COUNT }, (_, slot) => slot).filter((s) => map.ownerOfSlot(s) === owner);
      const connection = await map.bulk(owner);
      for (let i = 0; i < own.length; i += 2000) {
        const replies = await connection.execOrThrow(
          own.slice(i, i + 2000).map((slot) => ['EVALSHA', SET_IF_CURRENT_SHA, 1, keys.slot(slot), generation, stamp]),
          'stamping the slots before a snapshot',
        );
        if (replies.some((r) => r === 0)) throw new Superseded(`the slots on ${owner}`, generation);
      }
    }),
  );
}

/** The outcome of one slot's script. */
export type SlotApplied =
  { kind: 'ok'; applied: number; failedAt: number; failure: string } | { kind: 'superseded'; newer: number };

export function slotApplied(reply: Reply): SlotApplied {
  if (!Array.isArray(reply)) throw new Error(`unexpected reply from the slot script: ${String(reply)}`);
  const [kind, a, b, c] = reply;
  if (String(kind) === 'superseded') return { kind: 'superseded', newer: Number(a) };
  return { kind: 'ok', applied: Number(a), failedAt: Number(b), failure: String(c ?? '') };
}
