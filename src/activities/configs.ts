/** Step 2: fetch every node's redis.conf, check it against the spec, and write it into the config dir. */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { clusterAuth, probePort } from '../redis/connection';
import {
  type ClusterSpec,
  type NodeSpec,
  ErrorType,
  adminAddress,
  configFileName,
  confFacts,
  nodeLabel,
  renderNodeConf,
} from '../spec';
import type { S3ClientFactory } from './s3';
import { getS3Text } from './s3';
import { fail, log } from './support';

export interface NodeConfigResult {
  node: string;
  path: string;
  sha256: string;
  action: 'written' | 'unchanged' | 'kept-running-node';
  notes: string[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function configPath(spec: ClusterSpec, node: NodeSpec): string {
  return path.join(spec.configDir, configFileName(node));
}

export async function readSource(spec: ClusterSpec, node: NodeSpec, s3Factory: S3ClientFactory): Promise<string> {
  const source = node.config;
  if (source === 'render:') {
    return renderNodeConf({
      port: node.port,
      bind: node.host,
      adminHost: node.adminHost,
      dataDir: path.join(spec.dataDir ?? spec.configDir, String(node.port)),
      replica: node.role === 'replica',
      nofailover: spec.nofailover,
      auth: clusterAuth(),
      tls: spec.tls,
    });
  }
  if (source.startsWith('file://')) {
    try {
      return await readFile(new URL(source), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        fail(ErrorType.ConfigNotFound, `${nodeLabel(node)}: config file ${source} does not exist`);
      throw err;
    }
  }
  const client = s3Factory(spec.s3);
  try {
    const text = await getS3Text(client, source);
    if (text === undefined)
      fail(ErrorType.ConfigNotFound, `${nodeLabel(node)}: config object ${source} does not exist in S3`);
    return text;
  } finally {
    client.destroy();
  }
}

/** Problems that make a config unusable for its node; an empty list when it fits. */
export function checkNodeConfig(
  spec: ClusterSpec,
  node: NodeSpec,
  text: string,
): { errors: string[]; notes: string[] } {
  const facts = confFacts(text);
  const errors: string[] = [];
  const notes: string[] = [];
  const where = `${nodeLabel(node)}: config ${node.config}`;
  if (spec.tls) {
    if (facts.tlsPort !== node.port)
      errors.push(
        `${where} has tls-port ${facts.tlsPort ?? '(none)'}, but the spec (tls) puts this node on TLS port ${node.port}`,
      );
    if (spec.tls.cluster && !facts.tlsCluster)
      errors.push(`${where} lacks "tls-cluster yes", which spec tls.cluster asks for`);
    if (spec.tls.replication && !facts.tlsReplication)
      errors.push(`${where} lacks "tls-replication yes", which spec tls.replication asks for`);
  } else if (facts.port !== node.port)
    errors.push(`${where} has port ${facts.port ?? '(none: 6379)'}, but the spec puts this node on port ${node.port}`);
  if (!facts.clusterEnabled) errors.push(`${where} lacks "cluster-enabled yes"`);
  if (spec.auth) {
    const user = spec.auth.username;
    if (!facts.requirepassSet && !(user && (facts.aclUsers.includes(user) || facts.aclFile)))
      errors.push(`${where} sets no password (requirepass${user ? ` or "user ${user}"` : ''}), but the spec has auth`);
    if (user && !facts.aclUsers.includes(user) && !facts.aclFile && user !== 'default')
      errors.push(`${where} does not define the ACL user "${user}" of the spec's auth.username`);
    // Any node may replicate one day: each must be able to log in to its master.
    if (!facts.masterauthSet)
      errors.push(`${where} lacks "masterauth", which replication needs when nodes have passwords`);
  } else if (facts.requirepassSet)
    errors.push(
      `${where} sets requirepass, but the spec has no auth: name the password with auth.passwordEnv or auth.passwordFile`,
    );
  if (node.role === 'replica' && spec.nofailover && !facts.replicaNoFailover)
    notes.push(`${where} lacks "cluster-replica-no-failover yes"; the nofailover step sets it and persists it`);
  return { errors, notes };
}

export async function fetchConfigs(spec: ClusterSpec, s3Factory: S3ClientFactory): Promise<NodeConfigResult[]> {
  // Read and check every config before writing any: a bad one leaves every node untouched.
  const texts = await Promise.all(spec.nodes.map((node) => readSource(spec, node, s3Factory)));
  const problems: string[] = [];
  const notes = spec.nodes.map((node, i) => {
    const checked = checkNodeConfig(spec, node, texts[i]!);
    problems.push(...checked.errors);
    return checked.notes;
  });
  if (problems.length > 0) fail(ErrorType.ConfigInvalid, problems.join('; '));

  await mkdir(spec.configDir, { recursive: true });
  const results: NodeConfigResult[] = [];
  for (const [i, node] of spec.nodes.entries()) {
    const text = texts[i]!;
    const file = configPath(spec, node);
    const hash = sha256(text);
    const base = { node: node.id, path: file, sha256: hash, notes: notes[i]! };
    const existing = await readFile(file, 'utf8').catch(() => undefined);
    if (existing !== undefined && sha256(existing) === hash) {
      results.push({ ...base, action: 'unchanged' });
      continue;
    }
    // A running node owns its config file (CONFIG REWRITE changes it): never overwrite it under the node.
    if (existing !== undefined && (await probePort(adminAddress(node))).kind === 'redis') {
      log.info('config differs from its source but the node is running; left as is', { node: node.id, file });
      results.push({ ...base, action: 'kept-running-node' });
      continue;
    }
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, text, { mode: 0o640 });
    await rename(tmp, file);
    log.info('config written', { node: node.id, file, sha256: hash });
    results.push({ ...base, action: 'written' });
  }
  return results;
}
