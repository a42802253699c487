/** Certificates for tests that speak TLS: made here with openssl, never committed. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A throwaway CA and one certificate for 127.0.0.1, good for server and client use, valid for two days. */
export function makeCertificates(dir: string): { caFile: string; certFile: string; keyFile: string } {
  mkdirSync(dir, { recursive: true });
  const at = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=rco-test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  openssl('genrsa', '-out', 'node.key', '2048');
  openssl('req', '-new', '-key', 'node.key', '-subj', '/CN=127.0.0.1', '-out', 'node.csr');
  writeFileSync(at('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'node.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
    '-out',
    'node.crt',
  );
  return { caFile: at('ca.crt'), certFile: at('node.crt'), keyFile: at('node.key') };
}
