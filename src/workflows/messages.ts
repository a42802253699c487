/** Queries, signals and updates of the workflows, defined once. */
import { defineQuery } from '@temporalio/workflow';

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
] as const;

export type StepName = (typeof STEPS)[number];
export type StepStatus = 'pending' | 'running' | 'done' | 'failed';

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

export interface ProvisionProgress {
  cluster: string;
  currentStep?: StepName;
  steps: StepProgress[];
}

export const progressQuery = defineQuery<ProvisionProgress>('progress');
