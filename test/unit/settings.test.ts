/** Connection settings the way every Temporal tool takes them: environment, then the shared profiles file. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { temporalSettings } from '../../src/settings';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rco-settings-'));
const file = path.join(dir, 'temporal.toml');
writeFileSync(
  file,
  [
    '[profile.default]',
    'address = "127.0.0.1:7999"',
    'namespace = "prod"',
    'api_key = "key-from-profile"',
    '[profile.default.tls]',
    'server_name = "temporal.internal"',
    '[profile.staging]',
    'address = "127.0.0.2:7233"',
    'namespace = "staging"',
  ].join('\n'),
);

test('without environment or profiles file: the local dev server', () => {
  const settings = temporalSettings({}, { TEMPORAL_CONFIG_FILE: path.join(dir, 'none.toml') });
  expect(settings).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'redis-cluster' });
  expect(settings.connection.apiKey).toBeUndefined();
});

test('the profiles file the temporal CLI shares: address, namespace, API key, TLS; TEMPORAL_PROFILE picks one', () => {
  const settings = temporalSettings({}, { TEMPORAL_CONFIG_FILE: file });
  expect(settings).toMatchObject({ address: '127.0.0.1:7999', namespace: 'prod' });
  expect(settings.connection.apiKey).toBe('key-from-profile');
  expect(settings.connection.tls).toMatchObject({ serverNameOverride: 'temporal.internal' });
  expect(temporalSettings({}, { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'staging' })).toMatchObject({
    address: '127.0.0.2:7233',
    namespace: 'staging',
  });
});

test('the environment overrides the file, and explicit settings override both', () => {
  const env = { TEMPORAL_CONFIG_FILE: file, TEMPORAL_ADDRESS: '127.0.0.1:7300', TEMPORAL_API_KEY: 'key-from-env' };
  const settings = temporalSettings({}, env);
  expect(settings).toMatchObject({ address: '127.0.0.1:7300', namespace: 'prod' });
  expect(settings.connection.apiKey).toBe('key-from-env');
  expect(temporalSettings({ address: '127.0.0.1:7400', namespace: 'x' }, env)).toMatchObject({
    address: '127.0.0.1:7400',
    namespace: 'x',
  });
});
