/** Small helpers shared by the activities: failures, heartbeats, logging, waiting. */
import { hostname } from 'node:os';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ErrorTypeName } from '../model/errors';

/**
 * This process's name as a Temporal worker (the SDK's default form, pid@host, unless RCO_WORKER_NAME gives one): the
 * progress shows it beside each shard.
 */
export function workerIdentity(): string {
  return process.env.RCO_WORKER_NAME || `${process.pid}@${hostname()}`;
}

/** A business failure no retry can fix. */
export function fail(type: ErrorTypeName, message: string, details?: unknown): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true, details: details ? [details] : undefined });
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (CLI plan/verify)
  }
}

export const log = {
  info(message: string, attrs?: Record<string, unknown>): void {
    const ctx = currentContext();
    if (ctx) ctx.log.info(message, attrs);
    else if (process.env.RCO_VERBOSE) console.error(message, attrs ?? '');
  },
  warn(message: string, attrs?: Record<string, unknown>): void {
    const ctx = currentContext();
    if (ctx) ctx.log.warn(message, attrs);
    else console.error(`warning: ${message}`, attrs ?? '');
  },
};

/** Whether Temporal cancelled the current activity (or gave up on it): false outside an activity. */
export function cancelled(): boolean {
  return currentContext()?.cancellationSignal.aborted ?? false;
}

/** Whether the workflow asked for the current activity to stop (not a timeout: a newer attempt may be on its way). */
export function cancelRequested(): boolean {
  const ctx = currentContext();
  return (ctx?.cancellationSignal.aborted ?? false) && (ctx?.cancellationDetails?.cancelRequested ?? false);
}

/** The details of the last heartbeat of an earlier attempt of this activity (where it got to), if any. */
export function lastHeartbeatDetails(): unknown {
  return currentContext()?.info.heartbeatDetails;
}

export function heartbeat(details?: unknown): void {
  currentContext()?.heartbeat(details);
}

const lastBeats = new WeakMap<Context, number>();
/** How often `frequentHeartbeat` passes one on. */
const FREQUENT_HEARTBEAT_MS = 250;

/**
 * A heartbeat for loops that would send thousands (one per slot moved, say): at most one every 250 ms is passed on,
 * the others are dropped. Each heartbeat costs the worker about 0.1 ms of CPU (the SDK encodes its details every
 * call, however many it then sends): a classic move of 1,024 slots spent a fifth of its CPU on them. Only for
 * progress and liveness; details an attempt resumes from must go by `heartbeat`.
 */
export function frequentHeartbeat(details?: unknown): void {
  const ctx = currentContext();
  if (!ctx) return;
  const now = Date.now();
  if (now - (lastBeats.get(ctx) ?? 0) < FREQUENT_HEARTBEAT_MS) return;
  lastBeats.set(ctx, now);
  ctx.heartbeat(details);
}

/** Heartbeats every few seconds while `fn` runs, so a dead worker is noticed within the heartbeat timeout. */
export async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => unknown): Promise<T> {
  const ctx = currentContext();
  if (!ctx) return fn();
  ctx.heartbeat(details?.());
  const timer = setInterval(() => ctx.heartbeat(details?.()), 2000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it returns no problems. On timeout throws a retryable error naming what is still
 * wrong, so the activity's retry policy decides whether to go on.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<string[]>,
  { timeoutMs = 60_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let problems: string[] = [];
  for (;;) {
    try {
      problems = await check();
    } catch (err) {
      problems = [(err as Error).message];
    }
    if (problems.length === 0) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${problems.slice(0, 5).join('; ')}`);
    heartbeat({ waitingFor: what });
    await sleep(intervalMs);
  }
}
