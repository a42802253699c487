/** Timeout and retry profiles, one per kind of activity. Heartbeats make a dead worker visible in seconds. */
import type { ActivityOptions, RetryPolicy } from '@temporalio/workflow';
import { NON_RETRYABLE_ERROR_TYPES } from '../model/errors';

const retry: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '15s',
  nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
};

export const profiles = {
  quick: { startToCloseTimeout: '1 minute', heartbeatTimeout: '10s', retry: { ...retry, maximumAttempts: 10 } },
  /** Reading configs from S3 or files: a store that keeps refusing fails the run within about 20 s, naming it. */
  configFetch: { startToCloseTimeout: '1 minute', heartbeatTimeout: '10s', retry: { ...retry, maximumAttempts: 5 } },
  nodeStart: { startToCloseTimeout: '2 minutes', heartbeatTimeout: '10s', retry: { ...retry, maximumAttempts: 10 } },
  clusterChange: {
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 20 },
  },
  /** Moving slots: as long as the keys in them take; heartbeats per batch, a retry goes on with the slot it was in. */
  slotMove: {
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 50 },
  },
  /** Planning and verifying a migration: reads, possibly many keys. */
  migrationCheck: {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '30s',
    retry: { ...retry, maximumAttempts: 10 },
  },
  /**
   * One chunk of a live sync (a snapshot load can take long; it heartbeats every batch). A new worker resumes from
   * the checkpoints in the target.
   */
  syncChunk: {
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 100 },
  },
  /** The cutover's pause and drain: once, quickly (a retry would pause the sources again). */
  cutover: { startToCloseTimeout: '2 minutes', retry: { ...retry, maximumAttempts: 2 } },
  /** One bounded chunk of copying; retried from its last heartbeated cursor. */
  migrationChunk: {
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '10s',
    retry: { ...retry, maximumAttempts: 50 },
  },
} satisfies Record<string, ActivityOptions>;
