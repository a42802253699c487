import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';

/** The ApplicationFailure at the root of a failed workflow run (through ActivityFailure when there is one). */
export function rootApplicationFailure(err: unknown): ApplicationFailure {
  if (!(err instanceof WorkflowFailedError)) throw err;
  let cause: unknown = err.cause;
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as { cause?: unknown }).cause;
  if (!cause) throw new Error(`no ApplicationFailure in ${String(err)}`);
  return cause as ApplicationFailure;
}
