/**
 * The key digest that verify and the tests compare with, read at the moment a key expires: it never describes a
 * key as present without its expiry (which a comparison took for a key missing on the other side).
 */
import Redis from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readTypeAndExpiry } from '../../src/redis/compare';
import { startTestRedis, stopTestServers } from '../helpers/servers';
import { freePortBlock } from '../helpers/stack';

let dir: string;
let redis: Redis;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'rco-digest-'));
  const port = await freePortBlock(1);
  await startTestRedis(port, dir, ['--cluster-enabled', 'no']);
  redis = new Redis({ host: '127.0.0.1', port });
});

afterAll(async () => {
  redis?.disconnect();
  await stopTestServers();
  rmSync(dir, { recursive: true, force: true });
});

test('a key read while it expires is either gone or has its expiry', async () => {
  let seenExpiring = 0;
  for (let i = 0; i < 100; i++) {
    const key = Buffer.from(`expiring:${i}`);
    await redis.set(key, 'v', 'PX', 3);
    // Read it again and again until it is gone: one of these reads lands on the moment it expires.
    for (let reads = 0; reads < 10_000; reads++) {
      const digest = await readTypeAndExpiry(redis, key);
      if (digest.type === 'none') break;
      expect(digest).toMatchObject({ type: 'string', expireAt: expect.any(Number) });
      expect(digest.expireAt).toBeGreaterThan(0);
      seenExpiring++;
    }
  }
  expect(seenExpiring).toBeGreaterThan(0);
});
