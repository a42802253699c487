/** Resolves secret references inside activities; the secret itself never leaves the worker. */
import { readFileSync } from 'node:fs';
import type { AuthRef } from '../model/migration';

export interface ResolvedAuth {
  username?: string;
  password?: string;
}

export function resolveAuth(ref: AuthRef | undefined): ResolvedAuth {
  if (!ref) return {};
  let password: string | undefined;
  if (ref.passwordEnv) {
    password = process.env[ref.passwordEnv];
    if (password === undefined)
      throw new Error(`environment variable ${ref.passwordEnv} (passwordEnv) is not set on this worker`);
  } else if (ref.passwordFile) password = readFileSync(ref.passwordFile, 'utf8').replace(/\r?\n$/, '');
  return { username: ref.username, password };
}
