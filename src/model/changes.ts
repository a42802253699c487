/** What a step changes (or would change): one shape for the steps' results and for `rco plan`. Pure. */
import type { ErrorTypeName } from './errors';
import type { StepName } from './progress';

export interface PlannedChange {
  step: StepName;
  /** The spec id of the node changed, when the change is about one node. */
  node?: string;
  change: string;
}

/** What would make a step refuse to go on (it changes nothing then). */
export interface Refusal {
  type: ErrorTypeName;
  message: string;
}
