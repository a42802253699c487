/**
 * The worker process's Temporal runtime: Prometheus metrics (the SDK's and ours, src/runtime/metrics.ts) on
 * RCO_METRICS_ADDRESS, and logs at RCO_LOG_LEVEL, as JSON lines with RCO_LOG_FORMAT=json (for a log shipper).
 * Installed once, before the worker connects.
 */
import { DefaultLogger, type LogEntry, type LogLevel, Runtime } from '@temporalio/worker';

const LEVELS: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];

export interface TelemetrySettings {
  /** host:port for /metrics, e.g. 0.0.0.0:9464; none: no metrics endpoint. */
  metricsAddress?: string;
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
}

export function telemetrySettings(env: NodeJS.ProcessEnv = process.env): TelemetrySettings {
  const level = (env.RCO_LOG_LEVEL ?? 'INFO').toUpperCase() as LogLevel;
  if (!LEVELS.includes(level))
    throw new Error(`RCO_LOG_LEVEL: ${env.RCO_LOG_LEVEL} is not one of ${LEVELS.join(', ')}`);
  const format = env.RCO_LOG_FORMAT ?? 'text';
  if (format !== 'text' && format !== 'json') throw new Error(`RCO_LOG_FORMAT: ${format} is not "text" or "json"`);
  return { metricsAddress: env.RCO_METRICS_ADDRESS || undefined, logLevel: level, logFormat: format };
}

/** One JSON object per line: time, level, message and the entry's attributes (errors as message and type). */
export function jsonLogLine(entry: LogEntry): string {
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  return JSON.stringify({ time, level: entry.level, message: entry.message, ...entry.meta }, (_key, value: unknown) =>
    value instanceof Error
      ? { message: value.message, type: (value as { type?: string }).type ?? value.name }
      : typeof value === 'bigint'
        ? value.toString()
        : value,
  );
}

export function installRuntime(settings: TelemetrySettings = telemetrySettings()): void {
  const logger =
    settings.logFormat === 'json'
      ? new DefaultLogger(settings.logLevel, (entry) => process.stdout.write(`${jsonLogLine(entry)}\n`))
      : new DefaultLogger(settings.logLevel);
  Runtime.install({
    logger,
    telemetryOptions: settings.metricsAddress
      ? { metrics: { prometheus: { bindAddress: settings.metricsAddress } } }
      : undefined,
  });
}
