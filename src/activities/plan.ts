/**
 * What a provisioning run would change against the live nodes, found by reading only: the same checks the
 * steps make before they act, without acting. Used by `rco plan`; never writes, starts or connects a node.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';
import { type NodeView, lineAt, readView } from '../redis/view';
import {
  type ClusterSpec,
  type NodeSpec,
  adminAddress,
  countSlots,
  describeRanges,
  masters,
  nodeSlots,
  replicas,
  subtractRanges,
} from '../spec';
import type { StepName } from '../workflows/messages';
import { type InspectResult, inspectAll } from './cluster';
import { checkNodeConfig, configPath, readSource } from './configs';
import { planMigration } from './migration';
import type { S3ClientFactory } from './s3';

export interface PlannedChange {
  step: StepName;
  node?: string;
  change: string;
}

export interface ClusterPlan {
  cluster: string;
  nodes: InspectResult[];
  /** What the run would refuse (it would stop before changing anything). */
  refusals: string[];
  changes: PlannedChange[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function configChanges(spec: ClusterSpec, states: Map<string, InspectResult>, s3: S3ClientFactory) {
  const changes: PlannedChange[] = [];
  const refusals: string[] = [];
  for (const node of spec.nodes) {
    let text: string;
    try {
      text = await readSource(spec, node, s3);
    } catch (err) {
      refusals.push(`${node.id}: cannot read config ${node.config}: ${messageOf(err)}`);
      continue;
    }
    refusals.push(...checkNodeConfig(spec, node, text).errors);
    const file = configPath(spec, node);
    const existing = await readFile(file, 'utf8').catch(() => undefined);
    const differs = existing === undefined || sha256(existing) !== sha256(text);
    if (differs && states.get(node.id)?.state === 'absent')
      changes.push({ step: 'fetchConfigs', node: node.id, change: `write ${file} from ${node.config}` });
  }
  return { changes, refusals };
}

/** Views of the running nodes; absent nodes have none. */
async function liveViews(spec: ClusterSpec, states: Map<string, InspectResult>): Promise<Map<string, NodeView>> {
  const running = spec.nodes.filter((node) => states.get(node.id)?.state !== 'absent');
  const views = await Promise.all(running.map((node) => readView(adminAddress(node)).catch(() => undefined)));
  const map = new Map<string, NodeView>();
  running.forEach((node, i) => views[i] && map.set(node.id, views[i]));
  return map;
}

function clusterChanges(spec: ClusterSpec, views: Map<string, NodeView>): PlannedChange[] {
  const changes: PlannedChange[] = [];
  for (const node of spec.nodes)
    if (!views.has(node.id))
      changes.push({ step: 'startNodes', node: node.id, change: `start redis-server on ${node.host}:${node.port}` });
  for (const node of masters(spec)) {
    const missing = subtractRanges(nodeSlots(node), views.get(node.id)?.myself.slots ?? []);
    if (missing.length > 0)
      changes.push({
        step: 'assignSlots',
        node: node.id,
        change: `add slots ${describeRanges(missing)} (${countSlots(missing)} slots)`,
      });
  }
  for (const node of masters(spec)) {
    const view = views.get(node.id);
    const unknown = masters(spec).filter((o) => o !== node && !(view && lineAt(view, o.host, o.port)));
    if (unknown.length > 0)
      changes.push({ step: 'formCluster', node: node.id, change: `meet ${unknown.map((o) => o.id).join(', ')}` });
  }
  for (const replica of replicas(spec)) {
    const master = spec.nodes.find((n) => n.id === replica.replicaOf) as NodeSpec;
    const me = views.get(replica.id)?.myself;
    const masterId = views.get(master.id)?.myself.id;
    if (!me || me.role !== 'replica' || !masterId || me.masterId !== masterId)
      changes.push({ step: 'replicateNodes', node: replica.id, change: `replicate ${master.id}` });
    if (spec.nofailover && !me?.noFailover)
      changes.push({ step: 'setNoFailover', node: replica.id, change: 'set cluster-replica-no-failover yes' });
  }
  return changes;
}

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
    return {
      changes: plan.shards.map((shard) => ({
        step: 'migrateData' as const,
        change: `copy ${shard.keys || 'the'} keys of ${shard.id} (on conflict: ${spec.migration!.conflict})`,
      })),
      refusals: [],
    };
  } catch (err) {
    return { changes: [], refusals: [err instanceof ApplicationFailure ? err.message : messageOf(err)] };
  }
}

export async function planCluster(spec: ClusterSpec, s3: S3ClientFactory): Promise<ClusterPlan> {
  const { results, refusals } = await inspectAll(spec);
  const states = new Map(results.map((r) => [r.node, r]));
  const configs = await configChanges(spec, states, s3);
  const cluster = clusterChanges(spec, await liveViews(spec, states));
  const migration = await migrationChanges(spec, cluster.length === 0);
  return {
    cluster: spec.name,
    nodes: results,
    refusals: [...refusals.map((r) => r.message), ...configs.refusals, ...migration.refusals],
    changes: [...configs.changes, ...cluster, ...migration.changes],
  };
}
