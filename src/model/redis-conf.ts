/** Parsing and rendering of redis.conf files. Pure: the caller reads and writes the files. */

/** One directive: `name` lower-cased, `args` unquoted. */
export interface ConfDirective {
  name: string;
  args: string[];
  line: number;
}

/** Splits a redis.conf line into arguments the way Redis does for the simple cases: spaces, "double" and 'single' quotes. */
function splitArgs(line: string, lineNo: number): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    const quote = line[i];
    if (quote === '"' || quote === "'") {
      let value = '';
      i++;
      while (i < line.length && line[i] !== quote) {
        if (line[i] === '\\' && quote === '"' && i + 1 < line.length) {
          const next = line[i + 1]!;
          value += next === 'n' ? '\n' : next === 't' ? '\t' : next;
          i += 2;
        } else value += line[i++];
      }
      if (i >= line.length) throw new Error(`line ${lineNo}: unbalanced quotes`);
      i++;
      args.push(value);
    } else {
      let value = '';
      while (i < line.length && !/\s/.test(line[i]!)) value += line[i++];
      args.push(value);
    }
  }
  return args;
}

export function parseRedisConf(text: string): ConfDirective[] {
  const directives: ConfDirective[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [name, ...args] = splitArgs(line, index + 1);
    if (name) directives.push({ name: name.toLowerCase(), args, line: index + 1 });
  });
  return directives;
}

/** The last value of a directive (Redis lets later lines override earlier ones), or undefined. */
export function confValue(directives: readonly ConfDirective[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  // `slave-*` spellings are aliases of `replica-*` ones.
  const alias = wanted.replace(/^cluster-replica-/, 'cluster-slave-');
  for (let i = directives.length - 1; i >= 0; i--) {
    const directive = directives[i]!;
    if (directive.name === wanted || directive.name === alias) return directive.args.join(' ');
  }
  return undefined;
}

/** Settings a node's config file must carry, as the orchestrator checks them. */
export interface NodeConfFacts {
  port?: number;
  tlsPort?: number;
  tlsCluster: boolean;
  tlsReplication: boolean;
  clusterEnabled: boolean;
  replicaNoFailover: boolean;
  dir?: string;
  clusterConfigFile: string;
  pidfile?: string;
  logfile?: string;
  daemonize: boolean;
  requirepassSet: boolean;
  masterauthSet: boolean;
  /** Names of the ACL users the file defines (`user <name> ...` lines). */
  aclUsers: string[];
  /** `aclfile`: the users are kept in another file, which we do not read. */
  aclFile?: string;
  /** `cluster-databases` (Valkey 9+). @default 1 */
  clusterDatabases: number;
}

export function confFacts(text: string): NodeConfFacts {
  const directives = parseRedisConf(text);
  const port = confValue(directives, 'port');
  const yes = (name: string) => confValue(directives, name)?.toLowerCase() === 'yes';
  return {
    port: port === undefined ? undefined : Number(port),
    tlsPort: confValue(directives, 'tls-port') === undefined ? undefined : Number(confValue(directives, 'tls-port')),
    tlsCluster: yes('tls-cluster'),
    tlsReplication: yes('tls-replication'),
    clusterEnabled: yes('cluster-enabled'),
    replicaNoFailover: yes('cluster-replica-no-failover'),
    dir: confValue(directives, 'dir'),
    clusterConfigFile: confValue(directives, 'cluster-config-file') ?? 'nodes.conf',
    pidfile: confValue(directives, 'pidfile'),
    logfile: confValue(directives, 'logfile'),
    daemonize: yes('daemonize'),
    requirepassSet: confValue(directives, 'requirepass') !== undefined,
    masterauthSet: confValue(directives, 'masterauth') !== undefined,
    aclUsers: directives.filter((d) => d.name === 'user' && d.args[0]).map((d) => d.args[0]!),
    aclFile: confValue(directives, 'aclfile'),
    clusterDatabases: Number(confValue(directives, 'cluster-databases') ?? 1),
  };
}

export interface RenderNodeConfOptions {
  port: number;
  /** Address to bind and announce. */
  bind: string;
  /** The orchestrator's address for the node, when it differs: bound too, but never announced. */
  adminHost?: string;
  /** Directory for data, nodes.conf, pid and log files of this node. */
  dataDir: string;
  replica: boolean;
  nofailover: boolean;
  /** @default 5000 */
  clusterNodeTimeoutMs?: number;
  /** The cluster's credentials (resolved on the worker): requirepass, the ACL user, and what replicas log in with. */
  auth?: { username?: string; password?: string };
  /** TLS only: the port becomes `tls-port`, the plain port is closed. */
  tls?: { caFile: string; certFile: string; keyFile: string; cluster: boolean; replication: boolean };
  /** Numbered databases (`cluster-databases`, Valkey 9+); written only above 1. */
  clusterDatabases?: number;
}

/**
 * Renders a cluster node's redis.conf as our seed configs are written. Diskless sync starts at once
 * (Redis 7.0 waits 5 s by default), which is most of a fresh cluster's time to ready.
 */
export function renderNodeConf(options: RenderNodeConfOptions): string {
  const { port, bind, dataDir } = options;
  const lines = [
    `# Redis Cluster node ${bind}:${port}, rendered by redis-cluster-orchestrator`,
    ...(options.tls
      ? [
          `port 0`,
          `tls-port ${port}`,
          `tls-ca-cert-file ${JSON.stringify(options.tls.caFile)}`,
          `tls-cert-file ${JSON.stringify(options.tls.certFile)}`,
          `tls-key-file ${JSON.stringify(options.tls.keyFile)}`,
          ...(options.tls.cluster ? ['tls-cluster yes'] : []),
          ...(options.tls.replication ? ['tls-replication yes'] : []),
        ]
      : [`port ${port}`]),
    ...(options.adminHost && options.adminHost !== bind
      ? [`bind ${bind} ${options.adminHost}`, `cluster-announce-ip ${bind}`]
      : [`bind ${bind}`]),
    `protected-mode no`,
    `daemonize yes`,
    `pidfile ${dataDir}/redis-${port}.pid`,
    `logfile ${dataDir}/redis-${port}.log`,
    `dir ${dataDir}`,
    `cluster-enabled yes`,
    `cluster-config-file nodes-${port}.conf`,
    `cluster-node-timeout ${options.clusterNodeTimeoutMs ?? 5000}`,
    `appendonly yes`,
    `appendfilename "appendonly-${port}.aof"`,
    `appenddirname "appendonlydir-${port}"`,
    `dbfilename dump-${port}.rdb`,
    `repl-diskless-sync yes`,
    `repl-diskless-sync-delay 0`,
  ];
  if (options.replica && options.nofailover) lines.push('cluster-replica-no-failover yes');
  if ((options.clusterDatabases ?? 1) > 1) lines.push(`cluster-databases ${options.clusterDatabases}`);
  const { username, password } = options.auth ?? {};
  if (password !== undefined) {
    const quoted = JSON.stringify(password); // a double-quoted redis.conf argument: quotes and backslashes escaped
    lines.push(`requirepass ${quoted}`, `masterauth ${quoted}`);
    if (username)
      lines.push(`user ${username} on ${JSON.stringify(`>${password}`)} ~* &* +@all`, `masteruser ${username}`);
  }
  return lines.join('\n') + '\n';
}
