/**
 * Big values read from a snapshot in pieces: each server's own RDB file (Redis 6.2, 7.0 and 8.2, Valkey 8.1 and 9.1: every
 * encoding a big list, set, sorted set, hash or stream gets there, hash field expirations included) parsed a few
 * bytes at a time with a tiny unfold size, so that every such value arrives as the commands that build it. Built on
 * a second server of the same release and compared with the source key by key, consumer state included.
 */
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type RdbEvent, RdbParser, dumpPayload } from '../../src/migration/sync/rdb';
import { compareKey, printableKey } from '../../src/redis/compare';
import { capabilitiesOf } from '../../src/redis/servers';
import { fillBigHash, fillEveryType } from '../helpers/dataset';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { freePortBlock } from '../helpers/stack';

const dir = mkdtempSync(path.join(os.tmpdir(), 'rco-unfold-'));
const clients: Redis[] = [];

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await stopTestServers();
  rmSync(dir, { recursive: true, force: true });
});

async function start(server: string, name: string): Promise<Redis> {
  const port = await freePortBlock(1);
  await startTestRedis(port, path.join(dir, name), ['--cluster-enabled', 'no'], server);
  const client = new Redis({ host: '127.0.0.1', port });
  clients.push(client);
  return client;
}

/** Applies the parser's events to `target` as the live loader does: RESTORE whole values, build the others. */
async function load(target: Redis, events: RdbEvent[], rdbVersion: number): Promise<string[]> {
  const unfolded: string[] = [];
  let key: Buffer | undefined;
  let expireAt = -1;
  for (const event of events) {
    if (event.kind === 'key') {
      const args = [
        event.key,
        event.expireAt > 0 ? event.expireAt : 0,
        dumpPayload(event.type, event.value, rdbVersion),
      ];
      await target.callBuffer('RESTORE', ...args, ...(event.expireAt > 0 ? ['ABSTTL'] : []));
    } else if (event.kind === 'bigKey') {
      ({ key, expireAt } = event);
      unfolded.push(printableKey(key));
    } else if (event.kind === 'bigPiece') {
      const pipeline = target.pipeline();
      for (const w of event.writes) pipeline.callBuffer(w.command[0]!, ...w.command.slice(1), key!, ...w.args);
      for (const [error] of (await pipeline.exec())!) expect(error).toBeNull();
    } else if (event.kind === 'bigKeyEnd' && expireAt > 0) {
      await target.callBuffer('PEXPIREAT', key!, String(expireAt));
    }
  }
  return unfolded;
}

test.each([
  ['redis-server-6.2', 'quicklists of ziplists, streams v1'],
  ['redis-server', 'quicklists of listpacks, streams v2'],
  ['redis-server-8.2', 'streams v3, hashes with field expirations'],
  ['valkey-server', 'Valkey 8.1'],
  ['valkey-server-9', 'Valkey 9.1: RDB 80, its own hashes with field expirations'],
])(
  'every big value of %s (%s) arrives in pieces and builds the same key',
  async (server) => {
    const source = await start(server, `${server}-source`);
    const target = await start(server, `${server}-target`);
    await fillEveryType(source);
    await fillBigHash(source, 'big:hash', 20_000);
    await source.rpush('big:list', ...Array.from({ length: 20_000 }, (_, i) => (i % 3 ? `item-${i}` : String(i * 7))));
    await source.pexpire('big:list', 600_000);
    const { hashFieldTtl } = await capabilitiesOf(source);
    if (hashFieldTtl) {
      await fillBigHash(source, 'big:hash:ttls', 5_000);
      for (let i = 0; i < 5_000; i += 10)
        await source.call('HPEXPIRE', 'big:hash:ttls', String(600_000 + i), 'FIELDS', '1', `field:${i}`);
    }
    await source.save();
    const rdb = readFileSync(path.join(dir, `${server}-source`, 'dump.rdb'));

    const parser = new RdbParser({ unfoldBytes: 512 });
    const events: RdbEvent[] = [];
    for (let at = 0; at < rdb.length; at += 1000) events.push(...parser.push(rdb.subarray(at, at + 1000)));
    expect(parser.done).toBe(true);
    const unfolded = await load(target, events, parser.version);
    expect(unfolded).toEqual(
      expect.arrayContaining(['big:hash', 'big:list', 'list', 'set', 'zset', 'stream', 'stream:consumers']),
    );
    if (hashFieldTtl) expect(unfolded).toContain('big:hash:ttls');

    const differences: string[] = [];
    let compared = 0;
    let cursor = '0';
    do {
      const [next, keys] = await source.scanBuffer(cursor, 'COUNT', 1000);
      cursor = next.toString();
      for (const key of keys) {
        const { difference, source: want, target: got } = await compareKey(source, key, target, key);
        compared++;
        if (difference) differences.push(`${printableKey(key)}: ${difference}`);
        // Redis 6.2 has no PEXPIRETIME: its expiries are read by PTTL, to a few ms.
        else if (Math.abs(want.expireAt - got.expireAt) > 100)
          differences.push(`${printableKey(key)}: expiry ${got.expireAt} vs ${want.expireAt}`);
      }
    } while (cursor !== '0');
    expect(differences).toEqual([]);
    expect(compared).toBe(await source.dbsize());
    expect(await target.dbsize()).toBe(compared);
  },
  120_000,
);
