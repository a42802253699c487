/** The cluster spec: what the user asks for, as one plain JSON object. Pure: zod only. */
import { z } from 'zod';
import { authRefSchema, migrationSchema } from './migration';
import { type SlotRange, SLOT_COUNT, countSlots, describeRanges, mergeRanges, parseSlotRange } from './slots';

const portSchema = z
  .number()
  .int()
  .min(1)
  // The cluster bus listens on port + 10000, which must be a valid port too.
  .max(55535, { message: 'must be at most 55535 (the cluster bus uses port + 10000)' });

const configSourceSchema = z.string().regex(/^(s3:\/\/[^/]+\/.+|file:\/\/\/.+|render:)$/, {
  message: 'must be "s3://bucket/key", "file:///absolute/path" or "render:"',
});

/**
 * The server binary a node runs: "redis-server" or "valkey-server" (found as setup links them, then on PATH), or an
 * absolute path to another build.
 */
export const serverSchema = z.union([z.enum(['redis-server', 'valkey-server']), z.string().startsWith('/')], {
  message: 'must be "redis-server", "valkey-server" or an absolute path',
});

export const nodeSpecSchema = z.object({
  /** Short name used in reports and in `replicaOf`, e.g. "m1". */
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: 'must be letters, digits, "_", "." or "-"' }),
  /** Address the node announces and that clients use. */
  host: z.string().min(1),
  /** Address the orchestrator connects to for admin commands, when it differs from `host`. */
  adminHost: z.string().min(1).optional(),
  port: portSchema,
  role: z.enum(['master', 'replica']),
  /** Masters: the slots they own, e.g. ["0-4095"]. */
  slots: z.array(z.string()).optional(),
  /** Replicas: the `id` of their master. */
  replicaOf: z.string().optional(),
  /** Where the node's redis.conf comes from: an S3 object, a local file, or rendered from the spec. */
  config: configSourceSchema,
  /** The server binary that runs this node. @default the cluster's `server` */
  server: serverSchema.optional(),
});

/**
 * A node the cluster has and the spec no longer wants: emptied of its slots (moved to the spec's masters), forgotten
 * by every node once the `approve` update grants `remove`, reset, and stopped only when `stop` says so.
 */
export const removedNodeSchema = z
  .object({
    host: z.string().min(1),
    adminHost: z.string().min(1).optional(),
    port: portSchema,
    /** SHUTDOWN the node once it is out of the cluster. @default false: it keeps running, empty and alone */
    stop: z.boolean().default(false),
  })
  .strict();

export const s3SettingsSchema = z.object({
  /** Custom endpoint of an S3-compatible store, e.g. http://127.0.0.1:8333. Default: AWS. */
  endpoint: z.string().url().optional(),
  /** @default "us-east-1" */
  region: z.string().default('us-east-1'),
  /** Path-style addressing, which most S3-compatible stores need. @default true when an endpoint is set */
  forcePathStyle: z.boolean().optional(),
});

export const clusterSpecSchema = z.object({
  /** Cluster name; the workflow id is `redis-cluster-<name>`. */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'must be lower-case letters, digits and "-"' }),
  /** Directory the nodes' config files are written to, e.g. /etc/redis. */
  configDir: z.string().startsWith('/', { message: 'must be an absolute path' }),
  /** Data directory for configs rendered from the spec (`config: "render:"`); one subfolder per port. */
  dataDir: z.string().startsWith('/', { message: 'must be an absolute path' }).optional(),
  /** Disable automatic failover on every replica (`cluster-replica-no-failover yes`). @default true */
  nofailover: z.boolean().default(true),
  /** `cluster_current_epoch` every node must report at the end. @default the number of masters */
  expectedCurrentEpoch: z.number().int().min(0).optional(),
  s3: s3SettingsSchema.optional(),
  /**
   * How the orchestrator logs in to every node (AUTH [username] password), by reference: passwordEnv or
   * passwordFile, read on the worker. The configs must set requirepass (and the ACL user) and masterauth.
   */
  auth: authRefSchema.optional(),
  /**
   * The nodes speak only TLS on their port (`port 0`, `tls-port <port>`). File paths on the hosts and the worker;
   * the orchestrator uses the same CA, certificate and key as a client.
   */
  tls: z
    .object({
      caFile: z.string().startsWith('/', { message: 'must be an absolute path' }),
      certFile: z.string().startsWith('/', { message: 'must be an absolute path' }),
      keyFile: z.string().startsWith('/', { message: 'must be an absolute path' }),
      /** TLS on the cluster bus too (`tls-cluster yes`). @default true */
      cluster: z.boolean().default(true),
      /** TLS between replicas and masters (`tls-replication yes`). @default true */
      replication: z.boolean().default(true),
    })
    .strict()
    .optional(),
  /**
   * Numbered databases every node holds (`cluster-databases`, Valkey 9+; written into rendered configs, checked in
   * the others). Migrations can then copy a source's db N into db N. @default 1: db 0 only, as in every Redis Cluster
   */
  clusterDatabases: z.number().int().min(1).max(1_000_000).optional(),
  /** The server binary every node runs unless it names its own. @default "redis-server" */
  server: serverSchema.optional(),
  nodes: z.array(nodeSpecSchema).min(1),
  /** Nodes to take out of the cluster (masters with their replicas), by address. @default none */
  remove: z.array(removedNodeSchema).default([]),
  /**
   * Node-local steps (writing configs, starting redis-server) run on each node's own host: on task queue
   * `redis-host-<host>`, served there by `rco worker --host <host>`. Off: one worker does everything. @default false
   */
  hostWorkers: z.boolean().default(false),
  /** Copy old data into the cluster once it is built. */
  migration: migrationSchema.optional(),
});

export type NodeSpec = z.infer<typeof nodeSpecSchema>;
export type RemovedNode = z.infer<typeof removedNodeSchema>;
export type ServerBinary = z.infer<typeof serverSchema>;

/** The server binary this node runs. */
export const serverOf = (spec: Pick<ClusterSpec, 'server'>, node: Pick<NodeSpec, 'server'>): ServerBinary =>
  node.server ?? spec.server ?? 'redis-server';
export type ClusterSpec = z.infer<typeof clusterSpecSchema>;
/** What a user writes: defaults may be left out. */
export type ClusterSpecInput = z.input<typeof clusterSpecSchema>;

export class SpecError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid cluster spec:\n- ${problems.join('\n- ')}`);
    this.name = 'SpecError';
  }
}

/** The task queue of the host worker for `host`. */
export const hostTaskQueue = (host: string) => `redis-host-${host}`;

/**
 * The task queue of the data plane (snapshot copies and live syncs, one task per shard and chunk) beside a workflow's
 * task queue: every worker polls it with its own limit (--max-shards), so shards spread over the workers there are.
 */
export const shardTaskQueue = (taskQueue: string) => `${taskQueue}-shards`;

/**
 * The shard task queue of one worker (by its name): a notifications sync's next chunk goes there, to the worker that
 * holds its subscription; a chunk nobody takes there in time goes back to the shared shard queue.
 */
export const workerShardQueue = (taskQueue: string, worker: string) => `${shardTaskQueue(taskQueue)}@${worker}`;

/** The activities that run on the shard task queue. */
export const SHARD_ACTIVITIES = ['copyShardChunk', 'syncShardChunk'] as const;

/** The spec cut down to the nodes on one host: what that host's worker works on. */
export function nodesOnHost(spec: ClusterSpec, host: string): ClusterSpec {
  return { ...spec, nodes: spec.nodes.filter((node) => node.host === host) };
}

export function nodeLabel(node: Pick<NodeSpec, 'id' | 'host' | 'port'>): string {
  return `${node.id} (${node.host}:${node.port})`;
}

/** Checks what the schema alone cannot: slot coverage, replica mapping, unique ids and addresses. */
export function findSpecProblems(spec: ClusterSpec): string[] {
  const problems: string[] = [];
  if (spec.auth && !spec.auth.passwordEnv && !spec.auth.passwordFile)
    problems.push('auth: give passwordEnv or passwordFile, the name of where the password is');
  const byId = new Map<string, NodeSpec>();
  const byAddress = new Map<string, NodeSpec>();
  spec.nodes.forEach((node, index) => {
    const where = `nodes[${index}] ${nodeLabel(node)}`;
    const sameId = byId.get(node.id);
    if (sameId) problems.push(`${where}: id "${node.id}" is used twice`);
    byId.set(node.id, node);
    const address = `${node.adminHost ?? node.host}:${node.port}`;
    const sameAddress = byAddress.get(address);
    if (sameAddress)
      problems.push(`${where}: duplicate port ${node.port} on ${node.host}, already used by ${sameAddress.id}`);
    byAddress.set(address, node);
    if (node.role === 'master' && node.replicaOf !== undefined)
      problems.push(`${where}: a master cannot have replicaOf`);
    if (node.role === 'replica' && node.slots !== undefined && node.slots.length > 0)
      problems.push(`${where}: a replica cannot own slots`);
    if (node.role === 'replica' && node.replicaOf === undefined) problems.push(`${where}: replicaOf is required`);
    if (node.role === 'master' && (node.slots ?? []).length === 0) problems.push(`${where}: a master needs slots`);
    if (node.config === 'render:' && spec.dataDir === undefined)
      problems.push(`${where}: config "render:" needs the spec's dataDir`);
  });

  spec.nodes.forEach((node, index) => {
    if (node.role !== 'replica' || node.replicaOf === undefined) return;
    const master = byId.get(node.replicaOf);
    const where = `nodes[${index}] ${nodeLabel(node)}`;
    if (!master) problems.push(`${where}: replicaOf "${node.replicaOf}" is not a node of this spec`);
    else if (master.role !== 'master') problems.push(`${where}: replicaOf "${node.replicaOf}" is not a master`);
  });

  spec.remove.forEach((gone, index) => {
    const same = spec.nodes.find(
      (n) => n.port === gone.port && (n.host === gone.host || adminAddress(n).host === adminAddress(gone).host),
    );
    if (same)
      problems.push(
        `remove[${index}] ${gone.host}:${gone.port}: is node ${same.id} of the spec; keep it or remove it, not both`,
      );
  });

  // Every slot exactly once.
  const owner = new Array<string | undefined>(SLOT_COUNT);
  const overlaps = new Map<string, number[]>();
  spec.nodes.forEach((node, index) => {
    (node.slots ?? []).forEach((text, slotIndex) => {
      let range: SlotRange;
      try {
        range = parseSlotRange(text);
      } catch (err) {
        problems.push(`nodes[${index}].slots[${slotIndex}] of ${node.id}: ${(err as Error).message}`);
        return;
      }
      for (let slot = range[0]; slot <= range[1]; slot++) {
        const previous = owner[slot];
        if (previous !== undefined && previous !== node.id) {
          const key = `${previous} and ${node.id}`;
          overlaps.set(key, [...(overlaps.get(key) ?? []), slot]);
        } else owner[slot] = node.id;
      }
    });
  });
  for (const [pair, slots] of overlaps) {
    const ranges = mergeRanges(slots.map((s) => [s, s] as const));
    problems.push(`overlapping slots: ${describeRanges(ranges)} assigned to both ${pair}`);
  }
  const uncovered: number[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) if (owner[slot] === undefined) uncovered.push(slot);
  if (uncovered.length > 0) {
    const ranges = mergeRanges([...new Set(uncovered)].map((s) => [s, s] as const));
    problems.push(`uncovered slots: ${describeRanges(ranges)} (${countSlots(ranges)} slots) are assigned to no master`);
  }
  const source = spec.migration?.source;
  const held = spec.clusterDatabases ?? 1;
  for (const [from, to] of Object.entries((source?.type !== 'rdb' && source?.databases) || {}))
    if (to.db >= held)
      problems.push(
        `migration.source.databases.${from}.db: the target has no database ${to.db} (it holds ${held}); set clusterDatabases to ${to.db + 1} or more (cluster-databases, Valkey 9+ nodes), or copy db ${from} into db 0 under a prefix`,
      );
  return problems;
}

/** Parses and validates a spec; throws a SpecError naming every problem with its field or node. */
export function parseClusterSpec(input: unknown): ClusterSpec {
  const parsed = clusterSpecSchema.safeParse(input);
  if (!parsed.success) {
    throw new SpecError(
      parsed.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(spec)'}: ${issue.message}`),
    );
  }
  const problems = findSpecProblems(parsed.data);
  if (problems.length > 0) throw new SpecError(problems);
  return parsed.data;
}

export function masters(spec: ClusterSpec): NodeSpec[] {
  return spec.nodes.filter((node) => node.role === 'master');
}

export function replicas(spec: ClusterSpec): NodeSpec[] {
  return spec.nodes.filter((node) => node.role === 'replica');
}

export function nodeSlots(node: NodeSpec): SlotRange[] {
  return mergeRanges((node.slots ?? []).map(parseSlotRange));
}

export function findNode(spec: ClusterSpec, id: string): NodeSpec {
  const node = spec.nodes.find((n) => n.id === id);
  if (!node) throw new Error(`no node "${id}" in spec ${spec.name}`);
  return node;
}

/** The address the orchestrator uses to reach a node. */
export function adminAddress(node: Pick<NodeSpec, 'host' | 'adminHost' | 'port'>): { host: string; port: number } {
  return { host: node.adminHost ?? node.host, port: node.port };
}

export function expectedCurrentEpoch(spec: ClusterSpec): number {
  return spec.expectedCurrentEpoch ?? masters(spec).length;
}

/** The file name a node's config gets in `configDir`: the source's own name, or redis-<port>.conf when rendered. */
export function configFileName(node: NodeSpec): string {
  if (node.config === 'render:') return `redis-${node.port}.conf`;
  const name = node.config.split('/').pop();
  return name && name.length > 0 ? name : `redis-${node.port}.conf`;
}
