/** Reads a source's write stamp (see spec/source-writes.ts for what it holds and how two are compared). */
import type Redis from 'ioredis';
import { parseInfo } from '../redis/cluster-nodes';
import type { WriteStamp } from '../model';

export async function readWriteStamp(client: Redis, node: string): Promise<WriteStamp> {
  const info = parseInfo((await client.info()) as string);
  const n = (name: string) => Number(info[name] ?? 0);
  return {
    node,
    runId: info.run_id ?? '',
    replOffset: n('master_repl_offset'),
    dirty: n('rdb_changes_since_last_save'),
    saves: n('rdb_saves'),
    expired: n('expired_keys'),
    evicted: n('evicted_keys'),
  };
}
