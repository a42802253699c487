/**
 * A bounded, deterministic write load against a source: a fixed rate, at most a given time, ops chosen by a
 * seeded generator. It records which keys it touched, so that tests can tell writes from copy errors.
 */
import type { Cluster, default as Redis } from 'ioredis';

/** One command of the load: [name, ...args]; `key` is the key it touches (for the record). */
export interface LoadCommand {
  command: (string | Buffer | number)[];
  key: string;
  /** Several commands in one MULTI/EXEC instead. */
  transaction?: (string | Buffer | number)[][];
  /** The database it writes to (a second connection). @default 0 */
  db?: number;
}

export type LoadMix = (random: () => number, n: number) => LoadCommand;

/** Strings only: overwrite an existing key, delete one, or create a new one (keys `<prefix><i>` exist before). */
export const stringMix =
  (prefix: string, existing: number): LoadMix =>
  (random, n) => {
    const pick = random();
    const key = `${prefix}${Math.floor(random() * existing)}`;
    if (pick < 0.4) return { command: ['set', key, `rewritten-${n}`], key };
    if (pick < 0.7) return { command: ['del', key], key };
    const fresh = `${prefix}new:${n}`;
    return { command: ['set', fresh, `new-${n}`], key: fresh };
  };

/**
 * What a live sync must carry, at random over a small key space (so keys are written again and again): strings with
 * and without expiry, counters, hashes, lists, sets, sorted sets, streams with a consumer group, DEL, EXPIRE, RENAME
 * within a slot, MULTI/EXEC, a script (propagated as its effects), binary key names, and writes in database 1.
 */
export const everyTypeMix =
  (prefix: string, keys = 2000, options: { db1?: boolean } = {}): LoadMix =>
  (random, n) => {
    const i = Math.floor(random() * keys);
    let pick = Math.floor(random() * 25);
    if (pick === 16 && options.db1 === false) pick = 0;
    const k = (kind: string) => `${prefix}${kind}:${i % (kind === 'stream' ? 20 : keys)}`;
    switch (pick) {
      case 0:
        return { command: ['set', k('str'), `v${n}`], key: k('str') };
      case 1:
        return { command: ['set', k('ttl'), `v${n}`, 'PX', 60_000 + (n % 1000)], key: k('ttl') };
      case 2:
        return { command: ['incrby', k('counter'), n % 7], key: k('counter') };
      case 3:
        return { command: ['hset', k('hash'), `f${n % 13}`, `v${n}`], key: k('hash') };
      case 4:
        return { command: ['rpush', k('list'), `e${n}`], key: k('list') };
      case 5:
        return { command: ['lpop', k('list')], key: k('list') };
      case 6:
        return { command: ['sadd', k('set'), `m${n % 50}`], key: k('set') };
      case 7:
        return { command: ['srem', k('set'), `m${(n + 3) % 50}`], key: k('set') };
      case 8:
        return { command: ['zincrby', k('zset'), 1.5, `z${n % 30}`], key: k('zset') };
      case 9:
        return { command: ['xadd', k('stream'), 'MAXLEN', '~', 200, '*', 'n', n], key: k('stream') };
      case 10:
        return { command: ['del', k('str')], key: k('str') };
      case 11:
        return { command: ['expire', k('hash'), 120], key: k('hash') };
      case 12: {
        // Within one slot: a hash tag.
        const from = `${prefix}{r${i}}:a`;
        return {
          command: ['set', from, `v${n}`],
          key: from,
          transaction: [
            ['set', from, `v${n}`],
            ['rename', from, `${prefix}{r${i}}:b`],
          ],
        };
      }
      case 13: {
        const a = `${prefix}{t${i}}:x`;
        return {
          command: [],
          key: a,
          transaction: [
            ['incr', a],
            ['set', `${prefix}{t${i}}:y`, `v${n}`],
            ['hset', `${prefix}{t${i}}:h`, 'f', n],
          ],
        };
      }
      case 14:
        return {
          command: [
            'eval',
            "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])",
            2,
            `${prefix}{s${i}}:a`,
            `${prefix}{s${i}}:b`,
            `v${n}`,
          ],
          key: `${prefix}{s${i}}:a`,
        };
      case 15: {
        const binary = Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0x00, i % 256, 0x0a])]);
        return { command: ['set', binary, Buffer.from([n % 256, 0xfe])], key: binary.toString('hex') };
      }
      case 16:
        return { command: ['set', `in-db1:${i}`, `v${n}`], key: `db1:in-db1:${i}`, db: 1 };
      case 17:
        return { command: ['pexpireat', k('counter'), Date.now() + 300_000], key: k('counter') };
      case 18:
        return { command: ['unlink', k('ttl')], key: k('ttl') };
      case 19:
        return { command: ['setrange', k('str'), 3, 'xyz'], key: k('str') };
      // Consumer groups: XREADGROUP reaches replicas as XCLAIM (and XGROUP SETID), XACK and XDEL as they are.
      case 20:
        return { command: ['xgroup', 'CREATE', k('stream'), 'g', '0', 'MKSTREAM'], key: k('stream') };
      case 21:
        return {
          command: ['xreadgroup', 'GROUP', 'g', `c${n % 3}`, 'COUNT', 2, 'STREAMS', k('stream'), '>'],
          key: k('stream'),
        };
      case 22:
        return { command: ['xtrim', k('stream'), 'MAXLEN', 150], key: k('stream') };
      case 23:
        return { command: ['xautoclaim', k('stream'), 'g', 'c9', 0, '0-0', 'COUNT', 1], key: k('stream') };
      default:
        // XACK of a pending entry (its id found by a script; the script reaches replicas as the XACK).
        return {
          command: [
            'eval',
            "local p = redis.call('XPENDING', KEYS[1], 'g', '-', '+', 1) if p[1] then return redis.call('XACK', KEYS[1], 'g', p[1][1]) end return 0",
            1,
            k('stream'),
          ],
          key: k('stream'),
        };
    }
  };

export interface LoadStats {
  ops: number;
  errors: number;
  touched: Set<string>;
  seconds: number;
}

export interface WriteLoad {
  stats: LoadStats;
  /** Stops the load (after the commands in flight) and returns what it did. */
  stop(): Promise<LoadStats>;
  /** Resolves when the load ends on its own (maxSeconds or maxOps). */
  done: Promise<LoadStats>;
}

/** mulberry32: small, seeded, the same sequence on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function startWriteLoad(
  client: Redis | Cluster,
  options: { opsPerSecond: number; maxSeconds: number; maxOps?: number; mix: LoadMix; seed?: number },
): WriteLoad {
  let db1: Redis | undefined;
  const random = seeded(options.seed ?? 42);
  const stats: LoadStats = { ops: 0, errors: 0, touched: new Set(), seconds: 0 };
  const started = Date.now();
  const maxOps = options.maxOps ?? options.opsPerSecond * options.maxSeconds;
  let stopping = false;
  const tickMs = 10;
  const done = (async () => {
    while (!stopping && stats.ops < maxOps && Date.now() - started < options.maxSeconds * 1000) {
      const due = Math.min(maxOps, Math.floor(((Date.now() - started) / 1000) * options.opsPerSecond));
      if (due > stats.ops) {
        // A cluster client pipelines only keys of one slot: there, each command on its own.
        const cluster = 'nodes' in client;
        const pipeline = cluster ? undefined : client.pipeline();
        const others: Promise<unknown>[] = [];
        for (let n = stats.ops; n < due; n++) {
          const { command, key, transaction, db } = options.mix(random, n);
          stats.touched.add(key);
          if (transaction) {
            others.push(client.multi(transaction.map(([name, ...args]) => ['call', String(name), ...args])).exec());
            continue;
          }
          const [name, ...args] = command;
          if (db === 1 && !cluster) {
            db1 ??= (client as Redis).duplicate({ db: 1 });
            others.push(db1.call(String(name), ...args));
          } else if (pipeline) pipeline.call(String(name), ...args);
          else others.push(client.call(String(name), ...args));
        }
        const replies =
          (await pipeline?.exec().catch((): [Error | null, unknown][] => [[new Error('lost'), null]])) ?? [];
        const settled = await Promise.allSettled(others);
        stats.errors +=
          replies.filter(([error]) => error).length + settled.filter((r) => r.status === 'rejected').length;
        stats.ops = due;
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    stats.seconds = (Date.now() - started) / 1000;
    db1?.disconnect();
    return stats;
  })();
  return {
    stats,
    done,
    stop: async () => {
      stopping = true;
      return done;
    },
  };
}
