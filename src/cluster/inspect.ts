/**
 * The read-only entry points that `rco plan` and `rco verify` share: the spec's access resolved here, then the
 * same reads and decisions the steps use. Nothing here writes, starts or connects anything it would change.
 */
import { type BalanceMeasure, type BalancePlan, type ClusterSpec, balanceSlots } from '../model';
import { defaultS3ClientFactory } from '../s3/client';
import { withSpecAccess } from './access';
import { type ClusterPlan, planCluster } from './plan';
import { type RepairPlan, planRepair } from './repair';
import { type ClusterReport, inspectCluster } from './report';
import { readSlotLoad } from './slot-stats';

export type { ClusterPlan, ClusterReport, RepairPlan };

/** What a repair would do on the live cluster now. */
export function planClusterRepair(spec: ClusterSpec): Promise<RepairPlan> {
  return withSpecAccess(spec, () => planRepair(spec));
}

/** What provisioning the spec would change on the live nodes. */
export function planProvisioning(spec: ClusterSpec): Promise<ClusterPlan> {
  return withSpecAccess(spec, () => planCluster(spec, defaultS3ClientFactory));
}

/** The live cluster compared with the spec, from every node's point of view. */
export function inspectLiveCluster(spec: ClusterSpec): Promise<ClusterReport> {
  return withSpecAccess(spec, () => inspectCluster(spec));
}

/** A slot layout evening out `measure` across the masters, from the live load of every slot; and how it was read. */
export function planBalancedLayout(
  spec: ClusterSpec,
  measure: BalanceMeasure,
): Promise<BalancePlan & { readWith: Record<string, string> }> {
  return withSpecAccess(spec, async () => {
    const load = await readSlotLoad(spec, measure);
    return { ...balanceSlots(load.masters, load.weights), readWith: load.readWith };
  });
}
