/**
 * Node-local steps (fetchConfigs, startNodes) on every host at once, each on its host worker's task queue with that
 * host's nodes only. A host whose worker does not pick its task up is shown in progress.waitingForHosts and asked
 * again (its task stays queued: a worker that comes back takes it at once). The history stays bounded: after the
 * first 10 s, each wait is 5 minutes long, and the run continues as new when Temporal suggests it.
 */
import { ActivityFailure, TimeoutFailure } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { type ClusterSpec, hostTaskQueue, nodesOnHost } from '../model/schema';
import { summarizedActivities } from './activities';
import type { profiles } from './profiles';
import type { Run } from './run';

const FIRST_PICKUP = '10 seconds';
const LATER_PICKUP = '5 minutes';

/** The hosts' results, each field's lists joined (runs recorded before steps reported changes gave plain lists). */
function joined<R extends object>(parts: R[]): R {
  if (parts.every((part) => Array.isArray(part))) return parts.flat() as unknown as R;
  const result = {} as Record<string, unknown[]>;
  for (const part of parts)
    for (const [key, value] of Object.entries(part)) result[key] = [...(result[key] ?? []), ...(value as unknown[])];
  return result as R;
}

const pickupTimedOut = (err: unknown) => {
  const timeout = err instanceof ActivityFailure ? err.cause : undefined;
  return timeout instanceof TimeoutFailure && timeout.timeoutType === 'SCHEDULE_TO_START';
};

export async function onEveryHost<R extends object>(
  spec: ClusterSpec,
  run: Run,
  profile: (typeof profiles)['configFetch' | 'nodeStart'],
  step: (activities: Activities, hostSpec: ClusterSpec) => Promise<R>,
): Promise<R> {
  const hosts = [...new Set(spec.nodes.map((node) => node.host))];
  const waiting = new Set<string>();
  const show = () => (run.progress.waitingForHosts = waiting.size > 0 ? [...waiting].sort() : undefined);
  let parked = false;
  const results = await Promise.all(
    hosts.map(async (host) => {
      for (let attempt = 1; ; attempt++) {
        const activities = summarizedActivities({
          ...profile,
          taskQueue: hostTaskQueue(host),
          scheduleToStartTimeout: attempt === 1 ? FIRST_PICKUP : LATER_PICKUP,
        });
        try {
          const result = await step(activities, nodesOnHost(spec, host));
          waiting.delete(host);
          show();
          return result;
        } catch (err) {
          if (!pickupTimedOut(err)) throw err;
          waiting.add(host);
          show();
          if (run.historyFull) {
            parked = true;
            return undefined;
          }
        }
      }
    }),
  );
  // The step runs again in the next run, on every host (it is idempotent).
  if (parked) await run.continueAsNew({});
  return joined(results.filter((r): r is Awaited<R> => r !== undefined));
}
