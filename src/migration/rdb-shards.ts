/**
 * RDB files as sources: each file is downloaded from S3 and loaded into a temporary redis-server on a free loopback
 * port, which the copy then reads like any source; stopped by its pid once the data is verified.
 */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { freePort, pidAlive, stopPid } from '../host/processes';
import { binaryOf, binaryRelease, startStandaloneRedis } from '../host/redis-server';
import {
  type ClusterSpec,
  ErrorType,
  acceptsRdbVersion,
  describeServer,
  parseS3Uri,
  rdbVersionOfRelease,
} from '../model';
import { rdbHeader } from './sync/rdb';
import { PLAIN_ACCESS, connectNode, probePort } from '../redis/connection';
import type { S3ClientFactory } from '../s3/client';
import { fail, heartbeat, log } from '../runtime/context';
import type { Shard } from './sources';

function rdbDir(workflowId: string, shard: Shard): string {
  const hash = createHash('sha1').update(`${workflowId}:${shard.rdbObject}`).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), 'rco-rdb', hash);
}

/**
 * Downloads the shard's RDB file from S3 and loads it into a temporary redis-server on a free loopback port.
 * Idempotent: a temporary server already running for this shard is reused.
 */
export async function prepareRdbShard(spec: ClusterSpec, shard: Shard, s3Factory: S3ClientFactory): Promise<Shard> {
  const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'none';
  const dir = rdbDir(workflowId, shard);
  const stateFile = path.join(dir, 'server.json');
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number; port: number };
    if (
      pidAlive(state.pid) &&
      (await probePort({ host: '127.0.0.1', port: state.port }, 2000, PLAIN_ACCESS)).kind === 'redis'
    )
      return { ...shard, host: '127.0.0.1', port: state.port, keys: await countKeys('127.0.0.1', state.port) };
  }
  mkdirSync(dir, { recursive: true });
  const client = s3Factory(spec.s3);
  const { bucket, key } = parseS3Uri(shard.rdbObject!);
  try {
    const reply = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key })).catch((err: Error) => {
      if (['NoSuchKey', 'NoSuchBucket', 'NotFound'].includes(err.name))
        fail(ErrorType.ConfigNotFound, `RDB object ${shard.rdbObject} does not exist in S3`);
      throw err;
    });
    await pipeline(reply.Body as Readable, createWriteStream(path.join(dir, 'shard.rdb')));
  } finally {
    client.destroy();
  }
  // The temporary server is the cluster's own server binary: it must read the file's RDB version.
  const server = spec.server ?? 'redis-server';
  const release = binaryRelease(server);
  const fileVersion = rdbFileVersion(path.join(dir, 'shard.rdb'));
  if (release && !acceptsRdbVersion(rdbVersionOfRelease(release.engine, release.version), fileVersion))
    fail(
      ErrorType.UnsupportedData,
      `RDB object ${shard.rdbObject} is of RDB version ${fileVersion}, which the temporary server cannot load (${binaryOf(server)}: ${describeServer({ ...release, rdbVersion: rdbVersionOfRelease(release.engine, release.version) })}); load it with a server of the spec's "server" that reads it (e.g. Redis 7.4+ for RDB 12, Valkey 9 for RDB 80)`,
    );
  const port = await freePort();
  const pid = await startStandaloneRedis({
    server,
    port,
    dir,
    args: ['--dbfilename', 'shard.rdb', '--save', '', '--appendonly', 'no'],
    onWait: () => heartbeat(),
    timeoutMs: 10 * 60_000,
  });
  writeFileSync(stateFile, JSON.stringify({ pid, port }));
  const keys = await countKeys('127.0.0.1', port);
  log.info('RDB loaded into a temporary redis-server', { object: shard.rdbObject, port, keys });
  return { ...shard, host: '127.0.0.1', port, keys };
}

async function countKeys(host: string, port: number): Promise<number> {
  const client = await connectNode({ host, port }, { access: PLAIN_ACCESS }); // our temporary server
  try {
    return await client.dbsize();
  } finally {
    client.disconnect();
  }
}

/** Stops the shard's temporary redis-server (by the pid it recorded) once its data is copied. */
export async function releaseRdbShard(shard: Shard): Promise<void> {
  const dir = rdbDir(Context.current().info.workflowExecution?.workflowId ?? 'none', shard);
  const stateFile = path.join(dir, 'server.json');
  if (!existsSync(stateFile)) return;
  const { pid } = JSON.parse(readFileSync(stateFile, 'utf8')) as { pid: number };
  await stopPid(pid);
  rmSync(dir, { recursive: true, force: true });
}

/** The RDB version in a file's header ("REDIS0012", "VALKEY080"); 0 when it has none. */
function rdbFileVersion(file: string): number {
  return rdbHeader(readFileSync(file).subarray(0, 9)).version;
}
