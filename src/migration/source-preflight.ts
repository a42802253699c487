/**
 * What a live sync needs of a source master, checked before the first byte is synced: it is the master that takes
 * the writes, and it offers the replication commands. What cannot work is refused once, naming the source, what is
 * missing and the way out; never an attempt after attempt of LinkRefused, nor a full sync per retry. Whether the
 * user may run them is not asked (ACL DRYRUN would need a permission of its own, and a denial shows in the source's
 * ACL LOG): PSYNC itself answers NOPERM, in the first sync attempt, and that refusal is as final.
 */
import type Redis from 'ioredis';
import { ErrorType } from '../model';
import { fail, log } from '../runtime/context';
import { addressText, roleOf } from './source-master';
import type { NodeAddress } from '../redis/connection';

/** The commands a replica sends. SYNC is what old masters fall back to; PSYNC is what we use. */
const REPLICATION_COMMANDS = ['PSYNC', 'SYNC', 'REPLCONF'] as const;

const SNAPSHOT_INSTEAD =
  'follow it with "liveMethod": "notifications" instead (keyspace notifications), copy it with "mode": "snapshot" (while its writes are stopped), or enable the command';

/** The notification classes the notifications method needs: key events of every type, expiries and evictions. */
const NEEDED_EVENTS = 'g$lshzxet';

/**
 * What notify-keyspace-events lacks for the notifications method ("" when nothing), or undefined when CONFIG cannot
 * be read (disabled, as managed services do: there it is a parameter of the service).
 */
async function missingNotifications(client: Redis): Promise<string | undefined> {
  let flags: string;
  try {
    flags = ((await client.call('CONFIG', 'GET', 'notify-keyspace-events')) as string[])[1] ?? '';
  } catch {
    return undefined;
  }
  const all = flags.includes('A') ? flags + NEEDED_EVENTS : flags;
  const lacking = [...(flags.includes('E') ? '' : 'E'), ...[...NEEDED_EVENTS].filter((c) => !all.includes(c))];
  return lacking.join('');
}

/** Replication commands the source does not have: disabled or renamed away (`rename-command PSYNC ""`). */
async function missingCommands(client: Redis): Promise<string[] | undefined> {
  try {
    const infos = (await client.call('COMMAND', 'INFO', ...REPLICATION_COMMANDS)) as (unknown[] | null)[];
    return REPLICATION_COMMANDS.filter((_, i) => !infos[i]);
  } catch {
    return undefined; // COMMAND itself renamed or not permitted: the handshake will tell
  }
}

/**
 * Refuses, as non-retryable, a live source that is a replica or that cannot serve a replica. `client` is connected
 * to `node` with the source's access.
 */
export async function checkLiveSource(
  client: Redis,
  node: NodeAddress,
  method: 'psync' | 'notifications',
): Promise<void> {
  const where = `migration source ${addressText(node)}`;
  const role = await roleOf(client);
  if (!role.master)
    fail(
      ErrorType.SourceNotMaster,
      `${where} is a replica of ${addressText(role.masterAddress!)}: a live sync follows the master that takes the writes (its cutover holds them there); point migration.source at ${addressText(role.masterAddress!)}`,
    );
  if (method === 'notifications') {
    const lacking = await missingNotifications(client);
    if (lacking === undefined)
      log.warn(
        'CONFIG GET notify-keyspace-events is not allowed on the source: the notifications method trusts that it has E and A (e.g. "KEA"); the cutover compares every key both ways',
        { source: addressText(node) },
      );
    else if (lacking.length > 0)
      fail(
        ErrorType.SourceCannotReplicate,
        `${where} does not send the keyspace notifications the notifications method follows: notify-keyspace-events lacks "${lacking}"; set it to "KEA" (CONFIG SET notify-keyspace-events KEA, or the managed service's parameter group), or copy with "mode": "snapshot"`,
      );
    return;
  }
  const missing = await missingCommands(client);
  if (missing && missing.includes('PSYNC'))
    fail(
      ErrorType.SourceCannotReplicate,
      `${where} does not offer ${missing.join(', ')} (disabled or renamed away, as managed services such as ElastiCache and MemoryDB do): a live sync reads the source as a replica and cannot follow it; ${SNAPSHOT_INSTEAD}`,
    );
  if (missing && missing.includes('REPLCONF'))
    fail(
      ErrorType.SourceCannotReplicate,
      `${where} does not offer REPLCONF, which a replica needs to announce itself: ${SNAPSHOT_INSTEAD}`,
    );
}

/** A refusal of the replication handshake or of PSYNC, as the failure that names the way out. */
export function refusedReplication(shardId: string, message: string): never {
  return fail(
    /WRONGPASS|NOAUTH|invalid (username|password)/i.test(message)
      ? ErrorType.SourceAuthFailed
      : ErrorType.SourceCannotReplicate,
    `migration source ${message.startsWith(shardId) ? message : `${shardId}: ${message}`}; a live sync needs a user allowed AUTH, REPLCONF, PSYNC and SYNC (ACL "+psync +replconf +sync"), or copy with "mode": "snapshot"`,
  );
}
