/**
 * What a provisioning run would change, decided from the live nodes by the same functions the steps use, over the
 * cluster as it will be once absent nodes are started. Reads only: never writes, starts or changes a node.
 */
import { type ClusterSpec, type PlannedChange, type Refusal, describeServer } from '../model';
import { planMigration } from '../migration/plan';
import type { Shard } from '../migration/sources';
import type { S3ClientFactory } from '../s3/client';
import { readConfigsOnDisk, readSource } from './configs';
import {
  type InspectResult,
  configChanges,
  decideConfigs,
  decideForming,
  decideNoFailover,
  decidePreflight,
  decideReplication,
  decideSlots,
  decideStarts,
  formChanges,
  noFailoverChanges,
  replicateChanges,
  slotChanges,
  startChanges,
} from './decisions';
import { readLiveCluster, withAbsentNodesStarted } from './live';
import { type SlotMove, decideSlotMoves, slotMoveChanges } from './reshard';
import { keyspaceKeys, parseInfo } from '../redis/cluster-nodes';
import { withNode } from '../redis/connection';
import { decideRemovals, readDeparting, removalChanges } from './remove-nodes';
import { splitAddress } from '../redis/slot-map';

/**
 * The keys each move would carry, counted on the slots' owners now (CLUSTER COUNTKEYSINSLOT, one pipeline each), and
 * their bytes, estimated from the owner's average key (used_memory_dataset over its keys): sizing every key would
 * read the whole keyspace.
 */
async function sizeMoves(moves: SlotMove[]): Promise<{ keys: number; bytes: number }[]> {
  return Promise.all(
    moves.map(async ({ from, ranges }) => {
      const [host, port] = splitAddress(from.address);
      return withNode({ host, port }, async (client) => {
        const pipeline = client.pipeline();
        for (const [start, end] of ranges)
          for (let slot = start; slot <= end; slot++) pipeline.call('CLUSTER', 'COUNTKEYSINSLOT', slot);
        const keys = ((await pipeline.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
        const info = parseInfo(`${String(await client.info('memory'))}${String(await client.info('keyspace'))}`);
        const all = keyspaceKeys(info);
        const bytes = all > 0 ? Math.round((Number(info.used_memory_dataset ?? 0) * keys) / all) : 0;
        return { keys, bytes };
      }).catch(() => ({ keys: Number.NaN, bytes: Number.NaN }));
    }),
  );
}

const moveSize = ({ keys, bytes }: { keys: number; bytes: number }) =>
  Number.isNaN(keys)
    ? 'keys unknown (owner unreachable)'
    : `${keys} keys, about ${(bytes / 1024 / 1024).toFixed(1)} MB`;

export interface ClusterPlan {
  cluster: string;
  nodes: InspectResult[];
  /** What the run would refuse (it would stop before changing anything). */
  refusals: string[];
  changes: PlannedChange[];
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function migrationChanges(spec: ClusterSpec, clusterReady: boolean) {
  const source = spec.migration?.source;
  if (!source) return { changes: [], refusals: [] };
  const from =
    source.type === 'standalone'
      ? `${source.host}:${source.port}`
      : source.type === 'sentinel'
        ? `Sentinel master ${source.masterName}`
        : source.type;
  if (!clusterReady)
    return {
      changes: [{ step: 'migrateData' as const, change: `copy the keys of ${from} once the cluster is formed` }],
      refusals: [],
    };
  try {
    const plan = await planMigration(spec);
    const servers = plan.servers;
    const serverOf = (shard: Shard) =>
      servers?.sources.find((s) => s.node === `${shard.host}:${shard.port}` || shard.id.startsWith(s.node));
    const targets = [...new Set(servers?.targets.map(describeServer))].join(', ');
    return {
      changes: plan.shards.map((shard) => {
        const server = serverOf(shard);
        const between = server ? `, ${describeServer(server)} into ${targets}` : '';
        return {
          step: 'migrateData' as const,
          change: `copy ${shard.keys || 'the'} keys of ${shard.id} (on conflict: ${spec.migration!.conflict}${between})`,
        };
      }),
      refusals: [],
    };
  } catch (err) {
    return { changes: [], refusals: [messageOf(err)] };
  }
}

export async function planCluster(spec: ClusterSpec, s3: S3ClientFactory): Promise<ClusterPlan> {
  const live = await readLiveCluster(spec);
  const preflight = decidePreflight(spec, live);
  const refusals: Refusal[] = [...preflight.refusals];
  const unreadable: string[] = [];
  const sources = new Map<string, string>();
  for (const node of spec.nodes) {
    try {
      sources.set(node.id, await readSource(spec, node, s3));
    } catch (err) {
      unreadable.push(`${node.id}: cannot read config ${node.config}: ${messageOf(err)}`);
    }
  }
  const running = (id: string) => live.get(id)?.port.kind === 'redis';
  const configs = decideConfigs(spec, sources, await readConfigsOnDisk(spec), (n) => running(n.id));
  refusals.push(...configs.refusals);
  const projected = withAbsentNodesStarted(live, sources);
  const slots = decideSlots(spec, projected);
  const replication = decideReplication(spec, projected);
  const moves = decideSlotMoves(spec, live);
  const sizes = await sizeMoves(moves);
  // Masters to remove still own the slots the moves empty them of: only what the moves leave counts.
  const removals = decideRemovals(await readDeparting(spec, live), { afterMoves: true });
  refusals.push(...removals.refusals);
  refusals.push(...slots.refusals, ...replication.refusals);
  const changes = [
    ...configChanges(spec, configs.writes),
    ...startChanges(decideStarts(spec, live)),
    ...slotChanges(slots.adds),
    ...formChanges(decideForming(spec, projected)),
    ...slotMoveChanges(moves).map((change, i) => ({ ...change, change: `${change.change}: ${moveSize(sizes[i]!)}` })),
    ...replicateChanges(spec, replication.attach),
    ...noFailoverChanges(decideNoFailover(spec, projected)),
    ...removalChanges(removals.removals),
  ];
  const migration = await migrationChanges(spec, changes.length === 0);
  return {
    cluster: spec.name,
    nodes: preflight.results,
    // Later steps see some of what the preflight refuses (a replica owning slots): each once.
    refusals: [...new Set([...refusals.map((r) => r.message), ...unreadable, ...migration.refusals])],
    changes: [...changes, ...migration.changes],
  };
}
