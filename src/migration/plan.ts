/** Planning a migration: check the source and the target, split the work into shards. Reads only. */
import type Redis from 'ioredis';
import { parseClusterNodes, parseInfo } from '../redis/cluster-nodes';
import { probePort } from '../redis/connection';
import {
  type ClusterSpec,
  type MigrationServers,
  type ServerDescription,
  type WriteStamp,
  ErrorType,
  describeRanges,
  describeServer,
  rangesFromSlots,
} from '../model';
import { capabilitiesOf } from '../redis/servers';
import type { SlotMap } from '../redis/slot-map';
import { fail, log, sleep } from '../runtime/context';
import { checkLiveSource } from './source-preflight';
import { type Shard, connectSource, databaseDestinations, migrationOf, sentinelMaster, sourceAccess } from './sources';
import { readWriteStamp } from './source-writes';
import { targetMap, userKeysInTarget } from './target';

export interface MigrationPlan {
  shards: Shard[];
  totalKeys: number;
  /** Write stamps of the live sources (not of RDB files), to tell afterwards whether they took writes. */
  writeStamps?: WriteStamp[];
  /** Keys the target held before the copy (internal keys left out): with none, every extra key is ours. */
  targetUserKeys?: number;
  /** Engine, version and RDB version of every source node and target master. */
  servers?: MigrationServers;
}

async function probeSource(spec: ClusterSpec, host: string, port: number): Promise<Redis> {
  const what = `migration source ${host}:${port}`;
  for (let attempt = 1; ; attempt++) {
    // The source's own TLS (never the cluster's); no credentials: a PING answered NOAUTH is a Redis too.
    const probe = await probePort({ host, port }, 2000, { auth: {}, tls: sourceAccess(spec).tls });
    if (probe.kind === 'redis') break;
    if (probe.kind === 'other')
      fail(ErrorType.SourceUnreachable, `${what} is not a Redis (it answered ${JSON.stringify(probe.reply)})`);
    if (attempt >= 3)
      fail(ErrorType.SourceUnreachable, `${what} is unreachable (connection refused, 3 tries); check migration.source`);
    await sleep(1000);
  }
  try {
    const client = await connectSource(spec, host, port);
    await client.ping();
    return client;
  } catch (err) {
    const message = (err as Error).message;
    if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(message))
      fail(
        ErrorType.SourceAuthFailed,
        `${what} refused the credentials of migration.source.auth: ${message.split('\n')[0]}`,
      );
    throw err;
  }
}

function dbKeys(info: Record<string, string>): Map<number, number> {
  const result = new Map<number, number>();
  for (const [name, value] of Object.entries(info)) {
    const match = /^db(\d+)$/.exec(name);
    if (match) result.set(Number(match[1]), Number(/keys=(\d+)/.exec(value)?.[1] ?? 0));
  }
  return result;
}

/**
 * Shards of a standalone source: one per non-empty database (every mapped one when `live`: a database empty now can
 * be written to while the sync runs, and its keys must be verified then); a database the spec does not map is refused.
 */
function standaloneShards(
  id: string,
  host: string,
  port: number,
  info: Record<string, string>,
  databases: Record<string, { prefix: string; db?: number }> | undefined,
  live: boolean,
  master?: string,
): Shard[] {
  const mapping = databases ?? { '0': { prefix: '', db: 0 } };
  const unmapped = [...dbKeys(info)].filter(([db, keys]) => keys > 0 && !mapping[String(db)]);
  if (unmapped.length > 0)
    fail(
      ErrorType.SourceDbNotMapped,
      `migration source ${id} has keys in db ${unmapped.map(([db, keys]) => `${db} (${keys} keys)`).join(', ')}, which migration.source.databases does not map; map them there, e.g. {"${unmapped[0]![0]}": {"prefix": "db${unmapped[0]![0]}:"}} (into db 0 under a prefix) or {"${unmapped[0]![0]}": {"db": ${unmapped[0]![0]}}} (into a target with clusterDatabases)`,
    );
  const keys = dbKeys(info);
  return Object.entries(mapping)
    .filter(([db]) => live || (keys.get(Number(db)) ?? 0) > 0)
    .map(([db, to]) => ({
      id: `${id}/db${db}`,
      host,
      port,
      master,
      db: Number(db),
      prefix: to.prefix,
      ...(to.db ? { targetDb: to.db } : {}),
      keys: keys.get(Number(db)) ?? 0,
    }));
}

/** Checks the source and the target and splits the work into shards. Reads only. */
export async function planMigration(spec: ClusterSpec): Promise<MigrationPlan> {
  const migration = migrationOf(spec);
  const map = targetMap(spec);
  let targetUserKeys: number;
  let targets: ServerDescription[];
  try {
    await map.refresh();
    const uncovered = map.uncoveredSlots();
    if (uncovered.length > 0)
      fail(
        ErrorType.TargetSlotsUncovered,
        `target cluster ${spec.name}: slots ${describeRanges(rangesFromSlots(uncovered))} have no owner; nothing was copied`,
      );
    await checkTargetDatabases(map, Math.max(0, ...[...databaseDestinations(spec).values()].map((to) => to.db)));
    targetUserKeys = await userKeysInTarget(map);
    targets = await Promise.all(map.masters().map(async (node) => describe(node, await map.client(node))));
  } finally {
    map.close();
  }
  const source = migration.source;
  let shards: Shard[] = [];
  const live = migration.mode === 'live';
  if (source.type === 'standalone' || source.type === 'sentinel') {
    const node = source.type === 'sentinel' ? await sentinelMaster(source) : source;
    const client = await probeSource(spec, node.host, node.port);
    try {
      const info = parseInfo((await client.info()) as string);
      if (info.cluster_enabled === '1')
        fail(
          ErrorType.InvalidSpec,
          `migration source ${node.host}:${node.port} is a cluster node; use "type": "cluster"`,
        );
      if (live) await checkLiveSource(client, node, migration.liveMethod);
      // A Sentinel's master is named for good by its master name: the node changes when it fails over.
      const master = source.type === 'sentinel' ? source.masterName : undefined;
      shards = standaloneShards(
        master ?? `${node.host}:${node.port}`,
        node.host,
        node.port,
        info,
        source.databases,
        live,
        master,
      );
    } finally {
      client.disconnect();
    }
  } else if (source.type === 'cluster') {
    let nodesText: string | undefined;
    for (const seed of source.nodes) {
      const client = await probeSource(spec, seed.host, seed.port);
      try {
        nodesText = (await client.call('CLUSTER', 'NODES')) as string;
        break;
      } finally {
        client.disconnect();
      }
    }
    const sourceMasters = parseClusterNodes(nodesText ?? '').filter(
      (n) => n.role === 'master' && n.slots.length > 0 && !n.failing,
    );
    for (const m of sourceMasters) {
      const host = m.host || source.nodes[0]!.host;
      const client = await connectSource(spec, host, m.port);
      try {
        if (live) await checkLiveSource(client, { host, port: m.port }, migration.liveMethod);
        const id = `${host}:${m.port}`;
        const info = parseInfo((await client.info()) as string);
        // A Valkey 9 cluster can hold numbered databases: mapped like a standalone source's, refused unmapped.
        if (source.databases) shards.push(...standaloneShards(id, host, m.port, info, source.databases, live));
        else {
          standaloneShards(id, host, m.port, info, undefined, live);
          shards.push({ id, host, port: m.port, db: 0, prefix: '', keys: await client.dbsize() });
        }
      } finally {
        client.disconnect();
      }
    }
  } else {
    shards = source.objects.map((object, i) => ({ id: `rdb-${i + 1}`, db: 0, prefix: '', rdbObject: object, keys: 0 }));
  }
  const totalKeys = shards.reduce((sum, s) => sum + s.keys, 0);
  const writeStamps = await readSourceWriteStamps(spec, shards);
  const servers: MigrationServers = { sources: await describeSources(spec, shards), targets };
  log.info('migration planned', {
    shards: shards.map((s) => s.id),
    totalKeys,
    targetUserKeys,
    servers: [...servers.sources, ...servers.targets].map((s) => `${s.node}: ${describeServer(s)}`),
  });
  return { shards, totalKeys, writeStamps, targetUserKeys, servers };
}

/** Every target master holds database `highest` (cluster-databases): refused at once, naming the node, if not. */
async function checkTargetDatabases(map: SlotMap, highest: number): Promise<void> {
  if (highest === 0) return;
  for (const node of map.masters()) {
    // A connection of its own: the map's stays on its database whatever happens here.
    const probe = (await map.client(node)).duplicate({ lazyConnect: true });
    try {
      await probe.connect(); // unreachable: thrown as it is, and retried
      await probe
        .select(highest)
        .catch((err: unknown) =>
          fail(
            ErrorType.InvalidSpec,
            `target node ${node} has no database ${highest} (SELECT ${highest}: ${(err as Error).message}), which migration.source.databases copies into; start the nodes with "cluster-databases ${highest + 1}" or more (Valkey 9+), or copy into db 0 under a prefix`,
          ),
        );
    } finally {
      probe.disconnect();
    }
  }
}

async function describe(node: string, client: Redis): Promise<ServerDescription> {
  const { engine, version, rdbVersion } = await capabilitiesOf(client);
  return { node, engine, version, rdbVersion };
}

/** The server of each live source node (RDB files are read by a server of ours). */
async function describeSources(spec: ClusterSpec, shards: Shard[]): Promise<ServerDescription[]> {
  const nodes = new Map<string, Shard>();
  for (const shard of shards) if (!shard.rdbObject && shard.host) nodes.set(`${shard.host}:${shard.port}`, shard);
  return Promise.all(
    [...nodes].map(async ([node, shard]) => {
      const client = await connectSource(spec, shard.host!, shard.port!, shard.db);
      try {
        return await describe(node, client);
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** A write stamp of each live source node of these shards (RDB files take no writes). */
export async function readSourceWriteStamps(spec: ClusterSpec, shards: Shard[]): Promise<WriteStamp[]> {
  const nodes = new Map<string, Shard>();
  for (const shard of shards) if (!shard.rdbObject && shard.host) nodes.set(`${shard.host}:${shard.port}`, shard);
  return Promise.all(
    [...nodes].map(async ([node, shard]) => {
      const client = await connectSource(spec, shard.host!, shard.port!);
      try {
        return await readWriteStamp(client, node);
      } finally {
        client.disconnect();
      }
    }),
  );
}
