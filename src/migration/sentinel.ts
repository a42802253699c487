/**
 * Sentinel sources: the Sentinels say which node is the master now. Asked at every plan, sync chunk and cutover, so
 * a failover during a sync is followed by reconnecting to the new master (a partial resync: a promoted replica keeps
 * the old replication id as its second one).
 */
import { type MigrationSource, ErrorType } from '../model';
import { type ClusterAccess, type NodeAddress, connectNode } from '../redis/connection';
import { fail, log } from '../runtime/context';

export type SentinelSource = Extract<MigrationSource, { type: 'sentinel' }>;

/**
 * The master the Sentinels name for `source.masterName`: the first Sentinel that answers. `access` is the Sentinels'
 * own (sentinelAuth, and the source's TLS).
 */
export async function masterFromSentinels(source: SentinelSource, access: ClusterAccess): Promise<NodeAddress> {
  const problems: string[] = [];
  let unknown = 0;
  for (const sentinel of source.sentinels) {
    const where = `Sentinel ${sentinel.host}:${sentinel.port}`;
    let client;
    try {
      client = await connectNode(sentinel, { access, timeoutMs: 2000 });
    } catch (err) {
      problems.push(`${where}: ${(err as Error).message.split('\n')[0]}`);
      continue;
    }
    try {
      const answer = (await client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', source.masterName)) as string[] | null;
      if (answer && answer.length === 2) return { host: answer[0]!, port: Number(answer[1]) };
      unknown++;
      problems.push(`${where} knows no master named "${source.masterName}"`);
    } catch (err) {
      const message = (err as Error).message.split('\n')[0] ?? '';
      if (/WRONGPASS|NOAUTH|invalid password/i.test(message))
        fail(ErrorType.SourceAuthFailed, `${where} refused migration.source.sentinelAuth: ${message}`);
      problems.push(`${where}: ${message}`);
    } finally {
      client.disconnect();
    }
  }
  if (unknown === source.sentinels.length)
    fail(
      ErrorType.InvalidSpec,
      `no Sentinel of migration.source knows a master named "${source.masterName}" (${problems.join('; ')}); check masterName`,
    );
  log.warn('no Sentinel answered', { problems });
  throw new Error(`no Sentinel of migration.source named the master "${source.masterName}": ${problems.join('; ')}`);
}
