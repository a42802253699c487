/**
 * What a provisioning run would change, decided from the live nodes by the same functions the steps use, over the
 * cluster as it will be once absent nodes are started. Reads only: never writes, starts or changes a node.
 */
import { type ClusterSpec, type PlannedChange, type Refusal, describeServer } from '../model';
import { planMigration } from '../migration/plan';
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
import { withNode } from '../redis/connection';
import { splitAddress } from '../redis/slot-map';

/** The keys each move would carry, counted on the slots' owners now (CLUSTER COUNTKEYSINSLOT, one pipeline each). */
async function keysToMove(moves: SlotMove[]): Promise<number[]> {
  return Promise.all(
    moves.map(async ({ from, ranges }) => {
      const [host, port] = splitAddress(from.address);
      return withNode({ host, port }, async (client) => {
        const pipeline = client.pipeline();
        for (const [start, end] of ranges)
          for (let slot = start; slot <= end; slot++) pipeline.call('CLUSTER', 'COUNTKEYSINSLOT', slot);
        return ((await pipeline.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
      }).catch(() => Number.NaN);
    }),
  );
}

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
  const from = source.type === 'standalone' ? `${source.host}:${source.port}` : source.type;
  if (!clusterReady)
    return {
      changes: [{ step: 'migrateData' as const, change: `copy the keys of ${from} once the cluster is formed` }],
      refusals: [],
    };
  try {
    const plan = await planMigration(spec);
    const servers = plan.servers;
    const serverOf = (id: string) => servers?.sources.find((s) => id.startsWith(s.node));
    const targets = [...new Set(servers?.targets.map(describeServer))].join(', ');
    return {
      changes: plan.shards.map((shard) => {
        const server = serverOf(shard.id);
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
  const keys = await keysToMove(moves);
  refusals.push(...slots.refusals, ...replication.refusals);
  const changes = [
    ...configChanges(spec, configs.writes),
    ...startChanges(decideStarts(spec, live)),
    ...slotChanges(slots.adds),
    ...formChanges(decideForming(spec, projected)),
    ...slotMoveChanges(moves).map((change, i) => ({
      ...change,
      change: `${change.change}: ${Number.isNaN(keys[i]) ? 'keys unknown (owner unreachable)' : `${keys[i]} keys`}`,
    })),
    ...replicateChanges(spec, replication.attach),
    ...noFailoverChanges(decideNoFailover(spec, projected)),
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
