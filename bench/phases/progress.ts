/** Reading a live migration's progress in the benchmarks: its first source master, and waiting for its stream. */
import { type RedisClusterClient, migrationWorkflowId } from '../../src/client';
import type { SyncShardProgress } from '../../src/model';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The progress of the cluster's live migration's first source master, read anew at each call. */
export function firstShardProgress(client: RedisClusterClient, cluster: string) {
  const id = migrationWorkflowId(cluster);
  return async (): Promise<SyncShardProgress | undefined> => (await client.progress(id)).migration?.sync?.[0];
}

/** Waits until that source master streams (its snapshot or first pass loaded); its progress then. */
export async function untilStreaming(progress: () => Promise<SyncShardProgress | undefined>) {
  for (let shard = await progress(); ; shard = await progress()) {
    if (shard?.phase === 'streaming') return shard;
    await sleep(200);
  }
}
