/** Shared CLI plumbing: reading specs, printing, one error handler. */
import { readFileSync } from 'node:fs';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { type ClusterSpec, SpecError, parseSpecText } from '../model';

export function readSpecFile(file: string): ClusterSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read spec ${file}: ${(err as Error).message}`);
  }
  return parseSpecText(text);
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** One clear line (or a few for spec problems) and a non-zero exit. */
export function handleError(err: unknown): never {
  if (err instanceof SpecError) console.error(`error: ${err.message}`);
  else if (err instanceof WorkflowFailedError && err.cause) {
    const cause = err.cause.cause instanceof ApplicationFailure ? err.cause.cause : err.cause;
    const type = cause instanceof ApplicationFailure && cause.type ? `${cause.type}: ` : '';
    console.error(`error: workflow failed: ${type}${cause.message}`);
  } else console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
