/** Pipelines and batches: replies that must not be mistaken for answers, and payloads held in bounded slices. */
import { ReplyError } from 'ioredis';

type PipelineReplies = [Error | null, unknown][] | null;

/**
 * The values of a pipeline's replies, or the first error among them. A reply error here means a lost
 * connection or a node going away mid-batch, never "no such key": treating it as an answer would skip keys.
 */
export function repliesOrThrow(replies: PipelineReplies, what: string): unknown[] {
  for (const [error] of replies ?? []) if (error) throw new Error(`${what}: ${error.message}`, { cause: error });
  return (replies ?? []).map(([, value]) => value);
}

/** True for a Redis reply (the command ran and said no); false for a lost connection or a timeout. */
export const isRedisReply = (err: unknown): err is Error => err instanceof ReplyError;

/**
 * At most this many payload bytes (by MEMORY USAGE) are held in the worker per slice of a batch, so a batch of
 * large values cannot exhaust a heap-capped worker. Keys above bigKeyBytes never travel as one payload.
 */
export const PAYLOAD_SLICE_BYTES = 16 * 1024 * 1024;

/** Consecutive slices of items whose bytes add up to at most maxBytes (a single larger item is its own slice). */
export function slicesByBytes<T extends { bytes: number }>(items: T[], maxBytes: number): T[][] {
  const slices: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const item of items) {
    if (current.length > 0 && size + item.bytes > maxBytes) {
      slices.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += item.bytes;
  }
  if (current.length > 0) slices.push(current);
  return slices;
}
