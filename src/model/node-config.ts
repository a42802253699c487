/** Whether a node's redis.conf fits the node and the spec: checked before any config is written. Pure. */
import { confFacts } from './redis-conf';
import { type ClusterSpec, type NodeSpec, configFileName, nodeLabel } from './schema';

/** Where a node's config is written: `configDir`, under the name of its source. */
export function configPath(spec: Pick<ClusterSpec, 'configDir'>, node: NodeSpec): string {
  return `${spec.configDir.replace(/\/+$/, '')}/${configFileName(node)}`;
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
  const databases = spec.clusterDatabases ?? 1;
  if (facts.clusterDatabases < databases)
    errors.push(
      `${where} has cluster-databases ${facts.clusterDatabases}, but the spec's clusterDatabases asks for ${databases}`,
    );
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
