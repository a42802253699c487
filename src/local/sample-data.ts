/** Sample data of every type the migration must carry: the demo's legacy Redis and the tests use it. */
import type Redis from 'ioredis';
import type { Cluster } from 'ioredis';

type Client = Redis | Cluster;

/** Every type, binary values and names, hash tags, keys over all slot ranges, with and without TTL. */
export async function fillEveryType(client: Client, prefix = ''): Promise<void> {
  const k = (name: string) => `${prefix}${name}`;
  await client.set(k('str:plain'), 'hello world');
  await client.set(k('str:empty'), '');
  await client.set(k('str:binary'), Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  await client.set(
    Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0x00, 0xfe, 0x0a])]),
    'a key that is not UTF-8',
  );
  await client.set(k('{user:42}:name'), 'Ada');
  await client.set(k('{user:42}:email'), 'ada@example.org');
  await client.hset(k('hash'), Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, `v${i}`])));
  await client.hset(k('hash'), Buffer.from([0xc3, 0x28]), Buffer.from([0, 1, 2]));
  await client.rpush(k('list'), ...Array.from({ length: 1000 }, (_, i) => `item-${i}`));
  await client.sadd(k('set'), ...Array.from({ length: 500 }, (_, i) => `m${i}`));
  // Small sets have compact encodings (an intset; a listpack since Redis 7.2), which older servers lack.
  await client.sadd(k('set:small'), 'red', 'green', 'blue', '-7', '123456789012');
  await client.sadd(k('set:ints'), '1', '-2', '300', '70000', '5000000000');
  await client.zadd(k('zset'), ...Array.from({ length: 500 }, (_, i) => [String(i * 1.5 - 100), `z${i}`]).flat());
  for (let i = 0; i < 100; i++) await client.xadd(k('stream'), '*', 'n', String(i), 'payload', `p${i}`);
  await client.xgroup('CREATE', k('stream'), 'g1', '0');
  await client.xgroup('CREATE', k('stream'), 'g2', '$');
  await client.xreadgroup('GROUP', 'g1', 'c1', 'COUNT', 10, 'STREAMS', k('stream'), '>');
  // Scores that some servers print differently (0.1 as 0.10000000000000001): the same doubles all the same.
  await client.zadd(k('zset:fractions'), '0.1', 'a', String(1 / 3), 'b', '-2.5e-10', 'c', 'inf', 'd', '-inf', 'e');
  await fillConsumerState(client, k('stream:consumers'));
  await client.pfadd(k('hll'), ...Array.from({ length: 1000 }, (_, i) => `visitor-${i}`));
  for (const offset of [0, 7, 100, 1000, 65535]) await client.setbit(k('bitmap'), offset, 1);
  for (let i = 0; i < 200; i++) await client.set(k(`ttl:${i}`), `expiring-${i}`, 'PX', 600_000 + i * 1000);
  await client.set(k('expired'), 'gone', 'PX', 1);
  // Not a pipeline: a cluster client only pipelines keys of one slot.
  for (let start = 0; start < 3000; start += 500)
    await Promise.all(Array.from({ length: 500 }, (_, i) => client.set(k(`k:${start + i}`), `value-${start + i}`)));
  await new Promise((r) => setTimeout(r, 10)); // let "expired" expire
}

/** A hash big enough (fields x value size) to take the piece-by-piece path. */
export async function fillBigHash(client: Client, key: string, fields: number): Promise<void> {
  for (let start = 0; start < fields; start += 5000) {
    const args: string[] = [];
    for (let i = start; i < Math.min(start + 5000, fields); i++) args.push(`field:${i}`, `value:${i}`);
    await client.hset(key, ...args);
  }
}

/**
 * A stream whose consumer state must survive a copy: a group with three consumers (one with nothing pending), entries
 * pending with delivery counts above one, acknowledged entries, deleted entries, and a second group behind the first.
 */
export async function fillConsumerState(client: Client, key: string): Promise<void> {
  const ids: string[] = [];
  for (let i = 0; i < 50; i++) ids.push((await client.xadd(key, '*', 'n', String(i)))!);
  await client.xgroup('CREATE', key, 'workers', '0');
  await client.xgroup('CREATE', key, 'audit', ids[4]!);
  await client.xreadgroup('GROUP', 'workers', 'alice', 'COUNT', 10, 'STREAMS', key, '>');
  await client.xreadgroup('GROUP', 'workers', 'bob', 'COUNT', 5, 'STREAMS', key, '>');
  await client.xreadgroup('GROUP', 'audit', 'eve', 'COUNT', 3, 'STREAMS', key, '>');
  await client.xack(key, 'workers', ids[0]!, ids[1]!, ids[2]!);
  // Delivered again: their delivery counts go to 2.
  await client.xclaim(key, 'workers', 'alice', 0, ids[10]!, ids[11]!);
  await client.call('XGROUP', 'CREATECONSUMER', key, 'workers', 'carol');
  await client.xdel(key, ids[40]!, ids[41]!);
}
