/**
 * Connection settings shared by worker, client and CLI, the way every Temporal tool takes them
 * (@temporalio/envconfig): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, and the profiles
 * file the `temporal` CLI shares (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE). Explicit overrides (tests) win.
 */
import type { NativeConnectionOptions } from '@temporalio/worker';
import { loadClientConnectConfig } from '@temporalio/envconfig';

export const TASK_QUEUE = 'redis-cluster';
export const WORKFLOW_TYPE = 'provisionRedisCluster';

export interface TemporalSettings {
  /** host:port of the Temporal frontend. @default the environment or profile, else "127.0.0.1:7233" */
  address: string;
  /** @default the environment or profile, else "default" */
  namespace: string;
  /** @default RCO_TASK_QUEUE or "redis-cluster" */
  taskQueue: string;
  /** TLS, API key and gRPC metadata from the environment or profile, for the connection. */
  connection: Omit<NativeConnectionOptions, 'address'>;
}

export function temporalSettings(
  overrides: Partial<Omit<TemporalSettings, 'connection'>> = {},
  env: Record<string, string | undefined> = process.env,
): TemporalSettings {
  const loaded = loadClientConnectConfig({
    overrideEnvVars: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
  });
  const { address, ...connection } = loaded.connectionOptions;
  return {
    address: overrides.address ?? address ?? '127.0.0.1:7233',
    namespace: overrides.namespace ?? loaded.namespace ?? 'default',
    taskQueue: overrides.taskQueue ?? env.RCO_TASK_QUEUE ?? TASK_QUEUE,
    connection,
  };
}

/**
 * The worker's heap cap. Without it V8 lets the heap grow lazily to several hundred MB during a long copy; with it
 * the worker stays near 250 MB RSS for any number of keys (bench/migrate.ts), at some 10-20% of copy speed.
 */
export const WORKER_HEAP_FLAG = '--max-old-space-size=192';
