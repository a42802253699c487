/**
 * One line per activity call saying what it acts on (nodes, slots, a source shard), for the Temporal UI's timeline
 * (activity user metadata) and `temporal workflow describe`; and the line a run's start carries. Pure.
 */
import type { ClusterSpec } from './schema';
import { masters, nodeSlots, replicas } from './schema';
import { describeRanges } from './slots';
import type { AtomicJobProgress } from './progress';

interface SpecLike {
  spec?: ClusterSpec;
  shard?: { id?: string };
  cursor?: string;
  counters?: { copied?: number };
  master?: string;
  force?: boolean;
}

const ids = (list: { id: string }[]) => list.map((n) => n.id).join(', ');
const short = (list: unknown) => (Array.isArray(list) ? list.map((id) => String(id).slice(0, 8)).join(', ') : '');

/** What a run of a workflow does, for its start (the UI's list and its page). */
export function runSummary(workflow: string, spec: Pick<ClusterSpec, 'name'> & Partial<ClusterSpec>): string {
  const size = spec.nodes ? ` (${spec.nodes.length} nodes)` : '';
  const what: Record<string, string> = {
    provisionRedisCluster: `provision cluster ${spec.name}${size}${spec.migration ? `, then copy ${spec.migration.source.type} data into it` : ''}`,
    migrateRedisData: `${spec.migration?.mode !== 'live' ? 'copy' : spec.migration.liveMethod === 'notifications' ? 'live migration (keyspace notifications)' : 'live migration'} of ${spec.migration?.source.type ?? 'a source'} data into cluster ${spec.name}`,
    repairRedisCluster: `repair cluster ${spec.name} to its spec${size}`,
    failoverRedisCluster: `failover in cluster ${spec.name}`,
    verifyRedisCluster: `drift check of cluster ${spec.name}${size} against its spec`,
  };
  return what[workflow] ?? `${workflow} for cluster ${spec.name}`;
}

/** The activity's target in one line, from its arguments; undefined when there is nothing to add to its name. */
export function activitySummary(name: string, args: unknown[]): string | undefined {
  const first = args[0] as (ClusterSpec & SpecLike) | SpecLike | undefined;
  const spec = (first && 'nodes' in first ? first : (first as SpecLike | undefined)?.spec) as ClusterSpec | undefined;
  const input = first as SpecLike | undefined;
  if (!spec) return undefined;
  switch (name) {
    case 'fetchConfigs':
      return `configs of ${ids(spec.nodes)} into ${spec.configDir}`;
    case 'startNodes':
      return `start the nodes that are down among ${ids(spec.nodes)}${args[1] ? ` (${String(args[1])})` : ''}`;
    case 'assignSlots':
      return masters(spec)
        .map((m) => `${m.id} ${describeRanges(nodeSlots(m))}`)
        .join(', ');
    case 'formCluster':
      return `masters ${ids(masters(spec))} meet`;
    case 'moveSlots': {
      const job = (args[1] as { following?: AtomicJobProgress } | undefined)?.following;
      const following = job ? `; job ${job.job} to ${job.to} ${job.state}, ${job.remainingReplSize} bytes left` : '';
      return `slots to the masters the spec names: ${masters(spec)
        .map((m) => `${m.id} ${describeRanges(nodeSlots(m))}`)
        .join(', ')}${following}`;
    }
    case 'replicateNodes':
      return replicas(spec)
        .map((r) => `${r.id}→${r.replicaOf}`)
        .join(', ');
    case 'setNoFailover':
      return `cluster-replica-no-failover yes on ${ids(replicas(spec))}`;
    case 'verifyCluster':
    case 'verifyRepaired':
    case 'checkDrift':
      return `${spec.nodes.length} nodes of ${spec.name} against the spec`;
    case 'copyShardChunk':
      return `copy ${input?.shard?.id} from cursor ${input?.cursor} (${input?.counters?.copied ?? 0} keys so far)`;
    case 'syncShardChunk':
    case 'verifyShardKeys':
      return `${input?.shard?.id}`;
    case 'takeoverMasters':
      return `takeover of lost node(s) ${short(args[1]) || 'none'}`;
    case 'forgetLostNodes':
      return `forget node(s) ${short(args[1]) || 'none'} on every node`;
    case 'planFailover':
    case 'failoverMaster': {
      const request = args[1] as SpecLike | undefined;
      return `${request?.force ? 'takeover' : 'planned failover'} of ${request?.master}`;
    }
    default:
      return `cluster ${spec.name}`;
  }
}
