/** Step 2 (fetchConfigs): read every node's redis.conf from its source, check it, write it where the node reads it. */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type ClusterSpec,
  type NodeSpec,
  type PlannedChange,
  ErrorType,
  configPath,
  nodeLabel,
  renderNodeConf,
} from '../model';
import { clusterAuth } from '../redis/connection';
import { type S3ClientFactory, readS3Text } from '../s3/client';
import { fail, log } from '../runtime/context';
import { configChanges, decideConfigs } from './decisions';
import { readLiveCluster } from './live';
import { refuse } from './preflight';

/** The config text a node's source gives: rendered from the spec, a local file, or an S3 object. */
export async function readSource(spec: ClusterSpec, node: NodeSpec, s3Factory: S3ClientFactory): Promise<string> {
  const source = node.config;
  if (source === 'render:')
    return renderNodeConf({
      port: node.port,
      bind: node.host,
      adminHost: node.adminHost,
      dataDir: path.join(spec.dataDir ?? spec.configDir, String(node.port)),
      replica: node.role === 'replica',
      nofailover: spec.nofailover,
      auth: clusterAuth(),
      tls: spec.tls,
      clusterDatabases: spec.clusterDatabases,
    });
  if (source.startsWith('file://')) {
    try {
      return await readFile(new URL(source), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        fail(ErrorType.ConfigNotFound, `${nodeLabel(node)}: config file ${source} does not exist`);
      throw new Error(`${nodeLabel(node)}: reading config file ${source}: ${(err as Error).message}`, { cause: err });
    }
  }
  const text = await readS3Text(s3Factory, spec.s3, source, `config of ${nodeLabel(node)}`);
  if (text === undefined)
    fail(ErrorType.ConfigNotFound, `${nodeLabel(node)}: config object ${source} does not exist in S3`);
  return text;
}

/** What each node's config file holds now (undefined: none yet). */
export async function readConfigsOnDisk(spec: ClusterSpec): Promise<Map<string, string | undefined>> {
  const texts = await Promise.all(
    spec.nodes.map((node) => readFile(configPath(spec, node), 'utf8').catch(() => undefined)),
  );
  return new Map(spec.nodes.map((node, i) => [node.id, texts[i]]));
}

export interface FetchConfigsResult {
  changes: PlannedChange[];
  configs: { node: string; path: string; action: 'written' | 'unchanged' | 'kept-running-node'; notes: string[] }[];
}

export async function fetchConfigs(spec: ClusterSpec, s3Factory: S3ClientFactory): Promise<FetchConfigsResult> {
  // Read and check every config before writing any: a bad one leaves every node untouched.
  const texts = await Promise.all(spec.nodes.map((node) => readSource(spec, node, s3Factory)));
  const sources = new Map(spec.nodes.map((node, i) => [node.id, texts[i]!]));
  const live = await readLiveCluster(spec);
  const decision = decideConfigs(
    spec,
    sources,
    await readConfigsOnDisk(spec),
    (n) => live.get(n.id)?.port.kind === 'redis',
  );
  refuse(decision.refusals);
  await mkdir(spec.configDir, { recursive: true });
  for (const node of decision.writes) {
    const file = configPath(spec, node);
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, sources.get(node.id)!, { mode: 0o640 });
    await rename(tmp, file);
    log.info('config written', { node: node.id, file });
  }
  for (const r of decision.results.filter((r) => r.action === 'kept-running-node'))
    log.info('config differs from its source but the node is running; left as is', { node: r.node });
  return {
    changes: configChanges(spec, decision.writes),
    configs: decision.results.map((r) => ({
      ...r,
      path: configPath(
        spec,
        spec.nodes.find((n) => n.id === r.node)!,
      ),
    })),
  };
}
