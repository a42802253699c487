/** Connection settings, from the environment, shared by worker, client and CLI. */

export const TASK_QUEUE = 'redis-cluster';
export const WORKFLOW_TYPE = 'provisionRedisCluster';

export interface TemporalSettings {
  /** host:port of the Temporal frontend. @default TEMPORAL_ADDRESS or "127.0.0.1:7233" */
  address: string;
  /** @default TEMPORAL_NAMESPACE or "default" */
  namespace: string;
  /** @default "redis-cluster" */
  taskQueue: string;
}

export function temporalSettings(overrides: Partial<TemporalSettings> = {}): TemporalSettings {
  return {
    address: overrides.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: overrides.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: overrides.taskQueue ?? process.env.RCO_TASK_QUEUE ?? TASK_QUEUE,
  };
}

/**
 * The worker's heap cap. Without it V8 lets the heap grow lazily to several hundred MB during a long copy; with it
 * the worker stays near 250 MB RSS for any number of keys (bench/migrate.ts), at some 10-20% of copy speed.
 */
export const WORKER_HEAP_FLAG = '--max-old-space-size=192';
