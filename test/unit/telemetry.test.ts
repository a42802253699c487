/** The worker's telemetry settings and its JSON log lines. */
import { jsonLogLine, telemetrySettings } from '../../src/runtime/telemetry';

test('settings from the environment, with clear errors for bad values', () => {
  expect(telemetrySettings({})).toEqual({ metricsAddress: undefined, logLevel: 'INFO', logFormat: 'text' });
  expect(
    telemetrySettings({ RCO_METRICS_ADDRESS: '0.0.0.0:9464', RCO_LOG_LEVEL: 'debug', RCO_LOG_FORMAT: 'json' }),
  ).toEqual({ metricsAddress: '0.0.0.0:9464', logLevel: 'DEBUG', logFormat: 'json' });
  expect(() => telemetrySettings({ RCO_LOG_LEVEL: 'loud' })).toThrow(/RCO_LOG_LEVEL: loud is not one of TRACE/);
  expect(() => telemetrySettings({ RCO_LOG_FORMAT: 'xml' })).toThrow(/RCO_LOG_FORMAT: xml is not "text" or "json"/);
});

test('a log entry is one JSON object: time, level, message and its attributes, errors readable', () => {
  const error = Object.assign(new Error('connect ECONNREFUSED'), { type: 'SourceUnreachable' });
  const line = jsonLogLine({
    level: 'WARN',
    message: 'takeover',
    timestampNanos: 1_764_000_000_123_000_000n,
    meta: { node: 'r4', offset: 12n, error },
  });
  expect(line).not.toContain('\n');
  expect(JSON.parse(line)).toEqual({
    time: '2025-11-24T16:00:00.123Z',
    level: 'WARN',
    message: 'takeover',
    node: 'r4',
    offset: '12',
    error: { message: 'connect ECONNREFUSED', type: 'SourceUnreachable' },
  });
});
