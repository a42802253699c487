/** The workflow ids of a cluster's runs: one per kind of run, so that a second start attaches to the first. */
import type { ClusterSpec } from './schema';

/** The provisioning run of a cluster. */
export function workflowIdFor(spec: Pick<ClusterSpec, 'name'>): string {
  return `redis-cluster-${spec.name}`;
}
/** Workflow id of a migration-only run (migrateRedisData) for a cluster. */
export const migrationWorkflowId = (clusterName: string) => `redis-cluster-${clusterName}-migration`;
/** Workflow ids of a cluster's repair and failover runs. */
export const repairWorkflowId = (clusterName: string) => `redis-cluster-${clusterName}-repair`;
export const failoverWorkflowId = (clusterName: string) => `redis-cluster-${clusterName}-failover`;
/** The id of a cluster's drift-check schedule; its runs' workflow ids start with it. */
export const driftScheduleId = (clusterName: string) => `redis-cluster-${clusterName}-drift`;
