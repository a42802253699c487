/** Queries, signals and updates of the workflows, defined once. */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

export const STEPS = [
  'validate',
  'inspectNodes',
  'fetchConfigs',
  'startNodes',
  'assignSlots',
  'formCluster',
  'replicateNodes',
  'setNoFailover',
  'verifyCluster',
  'migrateData',
  'verifyData',
] as const;

export type StepName = (typeof STEPS)[number];
export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'skipped';

export interface StepProgress {
  name: StepName;
  status: StepStatus;
  /** Workflow time, ISO 8601. */
  startedAt?: string;
  durationMs?: number;
  /** What the step found and changed. */
  result?: unknown;
  error?: string;
}

export interface ShardProgress {
  shard: string;
  /** Keys in the shard when the migration was planned (0 when unknown). */
  keysTotal: number;
  scanned: number;
  copied: number;
  skipped: number;
  failed: number;
  bigKeys: number;
  mode: 'migrate' | 'dump-restore';
  /** Keys scanned per second since the shard started. */
  rate: number;
  /** Seconds left at the current rate, when the total is known. */
  etaSeconds?: number;
  done: boolean;
}

export interface MigrationProgress {
  paused: boolean;
  /** Current throttle; undefined means unlimited. */
  keysPerSecond?: number;
  shards: ShardProgress[];
}

export interface ProvisionProgress {
  cluster: string;
  currentStep?: StepName;
  steps: StepProgress[];
  /** Hosts whose worker has not picked up their node-local step yet (spec hostWorkers): the run waits for them. */
  waitingForHosts?: string[];
  migration?: MigrationProgress;
}

export const progressQuery = defineQuery<ProvisionProgress>('progress');

/** Pause the migration at the next chunk boundary (within a few seconds). */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/** Set the keys-per-second throttle (null for unlimited); returns the throttle now in force. */
export const throttleUpdate = defineUpdate<number | null, [number | null]>('throttle');

/**
 * Search attributes, so that runs can be filtered in the UI and with `temporal workflow list --query`. They must
 * be registered on the server first (our dev servers do it; see the README for a real one). A run started with
 * RedisCluster set keeps RedisClusterStep up to date; a run started without it never upserts, so a server that
 * lacks them still runs the workflow.
 */
export const clusterSearchAttribute = defineSearchAttributeKey('RedisCluster', 'KEYWORD');
export const stepSearchAttribute = defineSearchAttributeKey('RedisClusterStep', 'KEYWORD');
/** Name -> type, as `temporal server start-dev --search-attribute` and `temporal operator search-attribute create` take them. */
export const SEARCH_ATTRIBUTES = { RedisCluster: 'Keyword', RedisClusterStep: 'Keyword' } as const;
