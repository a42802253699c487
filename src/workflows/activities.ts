/**
 * Activity proxies whose every call carries a one-line summary of what it acts on (model/summaries.ts), shown in
 * the Temporal UI's timeline beside the activity's name.
 */
import { type ActivityOptions, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { activitySummary } from '../model/summaries';

export function summarizedActivities(options: ActivityOptions): Activities {
  return new Proxy({} as Activities, {
    get:
      (_target, name: string) =>
      (...args: unknown[]) => {
        const summary = activitySummary(name, args);
        const proxy = proxyActivities<Record<string, (...a: unknown[]) => Promise<unknown>>>(
          summary ? { ...options, summary } : options,
        );
        return proxy[name]!(...args);
      },
  });
}
