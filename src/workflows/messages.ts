/** Queries, signals, updates and search attribute keys of the workflows, defined once. */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Approval, CutoverReport, CutoverRequest, ProvisionProgress } from '../model/progress';

export const progressQuery = defineQuery<ProvisionProgress>('progress');

/** Pause the migration at the next chunk boundary (within a few seconds). */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/**
 * Set the throttle (null for unlimited): keys per second while copying, commands per second while a live sync
 * streams. Returns the throttle now in force.
 */
export const throttleUpdate = defineUpdate<number | null, [number | null]>('throttle');

/**
 * Live mode: verify, hold writes on the source masters (at most the budget) until the cluster has applied all of
 * them, stop the sync there, let writes through again; answers with the report. When the lag does not reach zero
 * within the budget, it says why and the sync goes on.
 */
export const cutoverUpdate = defineUpdate<CutoverReport, [CutoverRequest]>('cutover');

/**
 * Repair and failover: let a destructive step go on (`takeover`, `forget`); answers with every approval in force.
 * A run waiting for one shows it in progress.waitingForApproval, with the exact plan.
 */
export const approveUpdate = defineUpdate<Approval[], [Approval[]]>('approve');

/**
 * Search attributes, so that runs can be filtered in the UI and with `temporal workflow list --query`. They must
 * be registered on the server first (our dev servers do it; see the README for a real one). A run started with
 * RedisCluster set keeps RedisClusterStep up to date; a run started without it never upserts, so a server that
 * lacks them still runs the workflow.
 */
export const clusterSearchAttribute = defineSearchAttributeKey('RedisCluster', 'KEYWORD');
export const stepSearchAttribute = defineSearchAttributeKey('RedisClusterStep', 'KEYWORD');
