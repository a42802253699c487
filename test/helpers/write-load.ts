/**
 * A bounded, deterministic write load against a source: a fixed rate, at most a given time, ops chosen by a
 * seeded generator. It records which keys it touched, so that tests can tell writes from copy errors.
 */
import type Redis from 'ioredis';

/** One command of the load: [name, ...args]; `key` is the key it touches (for the record). */
export interface LoadCommand {
  command: (string | Buffer | number)[];
  key: string;
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
  client: Redis,
  options: { opsPerSecond: number; maxSeconds: number; maxOps?: number; mix: LoadMix; seed?: number },
): WriteLoad {
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
        const pipeline = client.pipeline();
        for (let n = stats.ops; n < due; n++) {
          const { command, key } = options.mix(random, n);
          const [name, ...args] = command;
          pipeline.call(String(name), ...args);
          stats.touched.add(key);
        }
        const replies = (await pipeline.exec()) ?? [];
        stats.errors += replies.filter(([error]) => error).length;
        stats.ops = due;
      }
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    stats.seconds = (Date.now() - started) / 1000;
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
