import { ApplicationFailure, type Client, WorkflowFailedError } from '@temporalio/client';

/** The ApplicationFailure at the root of a failed workflow run (through ActivityFailure when there is one). */
export function rootApplicationFailure(err: unknown): ApplicationFailure {
  if (!(err instanceof WorkflowFailedError)) throw err;
  let cause: unknown = err.cause;
  while (cause && !(cause instanceof ApplicationFailure)) cause = (cause as { cause?: unknown }).cause;
  if (!cause) throw new Error(`no ApplicationFailure in ${String(err)}`);
  return cause as ApplicationFailure;
}

/**
 * Starts `workflowType` directly (bypassing the client's own validation), expects it to fail non-retryably, and
 * returns the root failure.
 */
export async function expectRefusal(
  client: Client,
  workflowType: string,
  workflowId: string,
  input: unknown,
): Promise<ApplicationFailure> {
  const handle = await client.workflow.start(workflowType, { taskQueue: 'redis-cluster', workflowId, args: [input] });
  const failure = await handle.result().then(
    () => {
      throw new Error(`${workflowType} succeeded`);
    },
    (err: unknown) => rootApplicationFailure(err),
  );
  expect(failure.nonRetryable).toBe(true);
  return failure;
}
