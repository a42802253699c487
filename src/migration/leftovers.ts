/**
 * Keys earlier runs left in the target: copy checkpoints and live-sync state (16,384+ keys per live run) of runs that
 * were terminated, failed or replaced. Each key names the run that wrote it (workflow id and first run id); a key is
 * removed only when that run is over, so that a run still going keeps its state.
 */
import type { Client } from '@temporalio/client';
import type { ClusterSpec } from '../model';
import { heartbeat } from '../runtime/context';
import { scanMasters, targetMap } from './target';

/** Whether the run chain (workflow id, first run id) is still running. */
export type RunIsActive = (workflowId: string, firstRunId: string) => Promise<boolean>;

export interface LeftoverRemoval {
  /** Keys removed. */
  removed: number;
  /** The runs they belonged to, as "workflowId/firstRunId". */
  runs: string[];
  /** Keys kept because their run is still going. */
  keptOfActiveRuns: number;
}

/** The run a key of ours belongs to: `rco:sync:{tag}:<workflow>:<run>:...` or `rco:checkpoint:{<workflow>}:<run>:...`. */
export function runOfKey(key: string): { workflowId: string; runId: string } | undefined {
  const sync = /^rco:sync:\{[^}]*\}:([^:]+):([^:]+):/.exec(key);
  if (sync) return { workflowId: sync[1]!, runId: sync[2]! };
  const checkpoint = /^rco:checkpoint:\{([^}]+)\}:([^:]+):/.exec(key);
  if (checkpoint) return { workflowId: checkpoint[1]!, runId: checkpoint[2]! };
  return undefined;
}

/** Removes, on every target master, our keys of runs that are over; reports what it removed. */
export async function removeLeftovers(spec: ClusterSpec, isActive: RunIsActive): Promise<LeftoverRemoval> {
  const map = targetMap(spec);
  const verdicts = new Map<string, Promise<boolean>>();
  const result: LeftoverRemoval = { removed: 0, runs: [], keptOfActiveRuns: 0 };
  try {
    await map.refresh();
    for await (const { owner, keys } of scanMasters(map, 'rco:*')) {
      const stale: Buffer[] = [];
      for (const key of keys) {
        const run = runOfKey(key.toString('latin1'));
        if (!run) continue;
        const id = `${run.workflowId}/${run.runId}`;
        let verdict = verdicts.get(id);
        if (!verdict) verdicts.set(id, (verdict = isActive(run.workflowId, run.runId)));
        if (await verdict) result.keptOfActiveRuns++;
        else {
          stale.push(key);
          if (!result.runs.includes(id)) result.runs.push(id);
        }
      }
      if (stale.length > 0) {
        // One key per UNLINK: a node refuses several keys of different slots in one command.
        const client = await map.client(owner);
        await client.pipeline(stale.map((key) => ['unlink', key])).exec();
        result.removed += stale.length;
      }
      heartbeat({ leftoversRemoved: result.removed });
    }
    return result;
  } finally {
    map.close();
  }
}

/** A run chain is active while its workflow's latest run is running and belongs to that chain. */
export function runIsActiveIn(client: Client): RunIsActive {
  return async (workflowId, runId) => {
    const described = await client.workflow
      .getHandle(workflowId)
      .describe()
      .catch((err: unknown) => {
        if ((err as Error).name === 'WorkflowNotFoundError') return undefined;
        throw err;
      });
    if (!described || described.status.name !== 'RUNNING') return false;
    // Older checkpoints are keyed by the run that wrote them, newer ones by the chain's first run.
    return described.runId === runId || described.raw.workflowExecutionInfo?.firstRunId === runId;
  };
}
