/**
 * The cutover and the catch-up of the notifications method. There is no offset to compare: a drain is asked of each
 * shard's sync through the target (a token), and the sync answers with the same token once every notification the
 * source sent before it saw the ask has arrived (a PING round trip on the subscription) and been copied. While the
 * source's writes are held (CLIENT PAUSE WRITE), or once the user says they stopped, an answered drain means the
 * cluster holds every write: the stop markers are set then.
 */
import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import type { ClusterSpec } from '../../model';
import type { SlotMap } from '../../redis/slot-map';
import { heartbeat, sleep } from '../../runtime/context';
import { type LiveShard } from '../source-master';
import { targetMap } from '../target';
import { syncKeys } from '../sync/checkpoints';

/** Asks every shard's sync for a drain; true once all answered before `deadline`. */
async function drainAll(map: SlotMap, shards: LiveShard[], syncId: string, deadline: number): Promise<boolean> {
  const token = randomBytes(8).toString('hex');
  const keys = shards.map((shard) => syncKeys(map, syncId, shard.id));
  const homes = await Promise.all(keys.map(async (k) => map.client(map.ownerOf(k.drainAsked))));
  await Promise.all(keys.map((k, i) => homes[i]!.set(k.drainAsked, token)));
  for (;;) {
    const answers = await Promise.all(keys.map((k, i) => homes[i]!.get(k.drained)));
    if (answers.every((a) => a === token)) return true;
    if (Date.now() >= deadline) return false;
    heartbeat({ waitingFor: 'the notifications to drain' });
    await sleep(5);
  }
}

/** Waits until every write the sources took before now is in the cluster. False after `timeoutMs`. */
export async function waitDrained(
  spec: ClusterSpec,
  shards: LiveShard[],
  syncId: string,
  timeoutMs = 10_000,
): Promise<boolean> {
  const map = targetMap(spec);
  try {
    await map.refresh();
    return await drainAll(map, shards, syncId, Date.now() + timeoutMs);
  } finally {
    map.close();
  }
}

/** Holds the writes of `sources` (CLIENT PAUSE WRITE), or says why it cannot. */
export async function pauseWrites(
  sources: { node: string; client: Redis }[],
  budgetMs: number,
): Promise<string | undefined> {
  const refused: string[] = [];
  await Promise.all(
    sources.map(({ node, client }) =>
      client.call('CLIENT', 'PAUSE', String(budgetMs), 'WRITE').catch((err: Error) => {
        refused.push(`${node}: ${err.message.split('\n')[0]}`);
      }),
    ),
  );
  if (refused.length === 0) return undefined;
  await Promise.all(sources.map(({ client }) => client.call('CLIENT', 'UNPAUSE').catch(() => undefined)));
  return `the source does not let us hold its writes (CLIENT PAUSE WRITE: ${refused.join('; ')}); stop the writes to it yourself, then ask for the cutover again with "writesStopped": true`;
}

/** Drains every shard before `deadline` and sets the stop markers; the caller holds or has stopped the writes. */
export async function drainAndStop(
  map: SlotMap,
  shards: LiveShard[],
  syncId: string,
  deadline: number,
): Promise<boolean> {
  if (!(await drainAll(map, shards, syncId, deadline))) return false;
  await Promise.all(
    shards.map(async (shard) => {
      const keys = syncKeys(map, syncId, shard.id);
      await (await map.client(map.ownerOf(keys.stop))).set(keys.stop, '0');
    }),
  );
  return true;
}
