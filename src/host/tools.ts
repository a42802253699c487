/** Where the external programs are: an explicit env var, else what scripts/setup.sh linked, else PATH. */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The folder with package.json: two levels up from src/local, also when compiled to lib/local. */
function projectRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir))
    if (existsSync(path.join(dir, 'package.json'))) return dir;
  return path.resolve(__dirname, '..', '..');
}

export const PROJECT_ROOT = projectRoot();

const envNames: Record<string, string> = {
  'redis-server': 'RCO_REDIS_SERVER',
  'valkey-server': 'RCO_VALKEY_SERVER',
  'redis-cli': 'RCO_REDIS_CLI',
  'redis-benchmark': 'RCO_REDIS_BENCHMARK',
  temporal: 'RCO_TEMPORAL_BIN',
  weed: 'RCO_WEED_BIN',
  moto_server: 'RCO_MOTO_SERVER_BIN',
  chromium: 'RCO_CHROMIUM_BIN',
};

export function toolPath(name: keyof typeof envNames | string): string {
  const fromEnv = envNames[name] ? process.env[envNames[name]] : undefined;
  if (fromEnv) return fromEnv;
  const linked = path.join(PROJECT_ROOT, '.local', 'bin', name);
  return existsSync(linked) ? linked : name;
}

export function hasTool(name: string): boolean {
  return existsSync(path.join(PROJECT_ROOT, '.local', 'bin', name)) || Boolean(process.env[envNames[name] ?? '']);
}
