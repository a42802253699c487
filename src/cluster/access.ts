/** How to reach a spec's nodes: the secret its `auth` names and the TLS files it names, read on this machine. */
import { readFileSync } from 'node:fs';
import { type ClusterSpec, ErrorType } from '../model';
import { resolveAuth } from '../redis/auth';
import { type ClusterAccess, withClusterAccess } from '../redis/connection';
import { fail } from '../runtime/context';

/** The access the spec names, resolved here; secrets never travel back to a workflow. */
export function clusterAccessFor(spec: ClusterSpec | undefined): ClusterAccess {
  let auth;
  try {
    auth = resolveAuth(spec?.auth);
  } catch (err) {
    return fail(ErrorType.NodeAuthFailed, `auth: ${(err as Error).message}`);
  }
  if (!spec?.tls) return { auth };
  const read = (field: 'caFile' | 'certFile' | 'keyFile') => {
    try {
      return readFileSync(spec.tls![field]);
    } catch (err) {
      return fail(ErrorType.TlsFilesUnreadable, `tls.${field}: ${(err as Error).message}`);
    }
  };
  return { auth, tls: { ca: read('caFile'), cert: read('certFile'), key: read('keyFile') } };
}

/** Runs `fn` with every node connection inside it using the spec's access. */
export function withSpecAccess<T>(spec: ClusterSpec, fn: () => T): T {
  return withClusterAccess(clusterAccessFor(spec), fn);
}
