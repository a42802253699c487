/**
 * Reads a node's capabilities (src/model/servers.ts) once per connection, and the commands that depend on them: an
 * expiry read as PEXPIRETIME where the server has it, else PTTL bracketed by the time it was sent.
 */
import type Redis from 'ioredis';
import { type ServerCapabilities, capabilitiesFrom } from '../model/servers';
import { parseInfo } from './cluster-nodes';

const PROBED_COMMANDS = ['pexpiretime', 'hexpire', 'hpexpiretime', 'cluster|migrateslots'];

const known = new WeakMap<Redis, Promise<ServerCapabilities>>();

/** The RDB version at the end of a DUMP payload (2 bytes, little-endian, before the 8-byte CRC). */
export function payloadRdbVersion(payload: Buffer): number {
  return payload.readUInt16LE(payload.length - 10);
}

async function readCapabilities(client: Redis): Promise<ServerCapabilities> {
  const info = parseInfo((await client.info('server')) as string);
  const replies = (await client.call('COMMAND', 'INFO', ...PROBED_COMMANDS)) as (unknown[] | null)[];
  const present = new Set(PROBED_COMMANDS.filter((_, i) => Array.isArray(replies[i])));
  return capabilitiesFrom(info, (c) => present.has(c), await dumpedRdbVersion(client));
}

/**
 * A payload of its own says the RDB version exactly; an empty node is known by its release. Only a small key is
 * dumped: a random key may be a hash of millions of fields.
 */
async function dumpedRdbVersion(client: Redis): Promise<number | undefined> {
  for (let tries = 0; tries < 3; tries++) {
    const key = (await client.callBuffer('RANDOMKEY')) as Buffer | null;
    if (!key) return undefined;
    if (Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '1')) > 64 * 1024) continue;
    const payload = (await client.callBuffer('DUMP', key)) as Buffer | null;
    if (payload) return payloadRdbVersion(payload);
  }
  return undefined;
}

/** What the server behind this connection can do; read once per connection. */
export function capabilitiesOf(client: Redis): Promise<ServerCapabilities> {
  let record = known.get(client);
  if (!record) {
    record = readCapabilities(client);
    record.catch(() => known.delete(client)); // a failed read is tried again by the next caller
    known.set(client, record);
  }
  return record;
}

/** The command that reads a key's expiry on this server. */
export function expiryCommand(server: ServerCapabilities, key: Buffer | string): [string, Buffer | string] {
  return server.expireTime ? ['PEXPIRETIME', key] : ['PTTL', key];
}

/**
 * The absolute expiry (ms since the epoch; -1 none, -2 no such key) from the reply to expiryCommand. A PTTL counts
 * from when the server read it, somewhere between `sentAt` and the reply: the earlier bound is taken, so a copy never
 * outlives its source, and the difference (one round trip) stays within verify's ttlToleranceMs.
 */
export function expireAtFrom(server: ServerCapabilities, reply: unknown, sentAt: number): number {
  const value = Number(reply);
  if (server.expireTime || value < 0) return value;
  return sentAt + value;
}
