/** The runbook's topology on this machine: the seed spec localized, and its configs rendered into a local S3 store. */
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../s3/client';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type ClusterSpec, type ClusterSpecInput, localizeSpec, renderNodeConf } from '../model';
import { parseS3Uri } from '../model';
import { PROJECT_ROOT } from '../host/tools';

export const SEED_SPEC_FILE = path.join(PROJECT_ROOT, 'examples', 'seed-cluster.json');

export function readSeedSpec(): ClusterSpecInput {
  return JSON.parse(readFileSync(SEED_SPEC_FILE, 'utf8')) as ClusterSpecInput;
}

export interface LocalSeedOptions {
  stateDir: string;
  s3Endpoint: string;
  portOffset?: number;
  name?: string;
}

/** The seed spec on 127.0.0.1, reading its configs from the local S3 store and writing them under stateDir. */
export function localSeedSpec(options: LocalSeedOptions): ClusterSpec {
  return localizeSpec(readSeedSpec(), {
    configDir: path.join(options.stateDir, 'etc', 'redis'),
    s3Endpoint: options.s3Endpoint,
    portOffset: options.portOffset,
    name: options.name,
  });
}

/** Credentials for the local store only (it accepts any); set in the worker's environment, never in a spec. */
export const LOCAL_S3_ENV = {
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local-s3-store',
  AWS_REGION: 'us-east-1',
};

export function localS3Client(endpoint: string): S3Client {
  return createS3Client(
    { endpoint, region: 'us-east-1', forcePathStyle: true },
    { accessKeyId: LOCAL_S3_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: LOCAL_S3_ENV.AWS_SECRET_ACCESS_KEY },
  );
}

/** Uploads each node's config, rendered for 127.0.0.1 with its data under stateDir, to the key the spec names. */
export async function seedConfigs(spec: ClusterSpec, endpoint: string, stateDir: string): Promise<string[]> {
  const client = localS3Client(endpoint);
  const uploaded: string[] = [];
  try {
    const buckets = new Set(
      spec.nodes.filter((n) => n.config.startsWith('s3://')).map((n) => parseS3Uri(n.config).bucket),
    );
    for (const bucket of buckets) {
      await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: { name?: string }) => {
        if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(err.name ?? '')) throw err;
      });
    }
    for (const node of spec.nodes) {
      if (!node.config.startsWith('s3://')) continue;
      const { bucket, key } = parseS3Uri(node.config);
      const body = renderNodeConf({
        port: node.port,
        bind: node.host,
        dataDir: path.join(stateDir, 'data', String(node.port)),
        replica: node.role === 'replica',
        nofailover: spec.nofailover,
        clusterDatabases: spec.clusterDatabases,
      });
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      uploaded.push(node.config);
    }
  } finally {
    client.destroy();
  }
  return uploaded;
}
