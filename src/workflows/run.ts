/**
 * What every run of our workflows shares: the progress the query answers, a runner that records each step's status,
 * timing and result, the search attribute of the step, and continue-as-new. A long run ends its history when
 * Temporal suggests it and goes on in a new run, which receives only what it needs (`Carried`): the steps done, with
 * their results, and the migration's cursors. Every step is idempotent, so a step cut off is simply run again.
 */
import {
  ApplicationFailure,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { ErrorType } from '../model/errors';
import {
  type ProvisionProgress,
  type SlotMovesProgress,
  type StepName,
  type StepProgress,
  STEPS,
} from '../model/progress';
import { type ClusterSpec, type ClusterSpecInput, SpecError, parseClusterSpec } from '../model/schema';
import type { CarriedCopy } from './copy-phase';
import type { CarriedSync } from './sync-phase';
import { clusterSearchAttribute, progressQuery, stepSearchAttribute } from './messages';

/** What a run hands to the next one of its chain. */
export interface Carried {
  steps: StepProgress[];
  /** The snapshot copy, when the run was copying. */
  copy?: CarriedCopy;
  /** The live sync, when the run was syncing. */
  sync?: CarriedSync;
  /** The slot moves' progress, pause and throttle, when the run was moving slots. */
  slotMoves?: SlotMovesProgress;
  /** Runs of this chain before the next one. */
  runs: number;
}

/** Keeps RedisClusterStep current, only for runs started with RedisCluster set (so it is registered). */
function showStep(
  value: StepName | 'done' | `failed:${StepName}` | `approval:${string}` | `drift:${number}` | 'no-drift',
): void {
  if (workflowInfo().typedSearchAttributes.get(clusterSearchAttribute) === undefined) return;
  upsertSearchAttributes([{ key: stepSearchAttribute, value }]);
}

export class Run {
  readonly progress: ProvisionProgress;

  constructor(
    input: ClusterSpecInput,
    private readonly carried: Carried | undefined,
    private readonly next: (carried: Carried) => Promise<never>,
    stepNames: readonly StepName[] = STEPS,
  ) {
    this.progress = {
      cluster: typeof input?.name === 'string' ? input.name : '(unnamed)',
      steps: carried?.steps ?? stepNames.map((name) => ({ name, status: 'pending' })),
      runs: (carried?.runs ?? 0) + 1,
    };
    setHandler(progressQuery, () => this.progress);
  }

  /** What the previous run of the chain handed over. */
  get handedOver(): Carried | undefined {
    return this.carried;
  }

  /** A step's entry; one a run of an older version handed over without it is added. */
  private entry(name: StepName): StepProgress {
    let entry = this.progress.steps.find((s) => s.name === name);
    if (!entry) this.progress.steps.push((entry = { name, status: 'pending' }));
    return entry;
  }

  /** Runs a step and records it; a step an earlier run of the chain finished is not run again. */
  async step<T>(name: StepName, run: () => Promise<T>): Promise<T> {
    const entry = this.entry(name);
    if (entry.status === 'done') return entry.result as T;
    const started = Date.now();
    this.progress.currentStep = name;
    showStep(name);
    entry.status = 'running';
    entry.startedAt ??= new Date(started).toISOString();
    try {
      const result = await run();
      entry.status = 'done';
      entry.result = result;
      return result;
    } catch (err) {
      if (err instanceof ContinueAsNew) throw err; // not failed: it goes on in the next run
      entry.status = 'failed';
      showStep(`failed:${name}`);
      entry.error = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw err;
    } finally {
      entry.durationMs = (entry.durationMs ?? 0) + Date.now() - started;
    }
  }

  /** RedisClusterStep while the run waits for an operator (e.g. `approval:takeover`). */
  showWaiting(approval: string): void {
    showStep(`approval:${approval}`);
  }

  skip(names: StepName[]): void {
    for (const entry of this.progress.steps) if (names.includes(entry.name)) entry.status = 'skipped';
  }

  /** Done; `shown` replaces "done" in RedisClusterStep (the drift check shows what it found). */
  finish(shown?: `drift:${number}` | 'no-drift'): void {
    this.progress.currentStep = undefined;
    showStep(shown ?? 'done');
  }

  /** The spec, validated (the `validate` step); a bad spec fails the run as InvalidSpec. */
  validated(input: ClusterSpecInput): Promise<ClusterSpec> {
    const entry = this.entry('validate');
    if (entry.status === 'done') entry.status = 'pending'; // cheap, and the next run needs the parsed spec
    return this.step('validate', async () => {
      try {
        const spec = parseClusterSpec(input);
        this.progress.cluster = spec.name;
        return spec;
      } catch (err) {
        if (err instanceof SpecError)
          throw ApplicationFailure.create({
            type: ErrorType.InvalidSpec,
            message: err.message,
            nonRetryable: true,
            details: [err.problems],
          });
        throw err;
      }
    });
  }

  /** Whether this run should end its history and go on in a new run. */
  get historyFull(): boolean {
    return workflowInfo().continueAsNewSuggested;
  }

  /**
   * Goes on in a new run with what it needs, once the message handlers running now are done. The step running is
   * left as it is: the new run runs it again (steps are idempotent).
   */
  async continueAsNew(extra: Omit<Carried, 'steps' | 'runs'>): Promise<never> {
    await condition(allHandlersFinished);
    const steps = this.progress.steps.map((s) => (s.status === 'running' ? { ...s, status: 'pending' as const } : s));
    return this.next({ ...extra, steps, runs: this.progress.runs ?? 1 });
  }
}
