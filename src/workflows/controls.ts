/**
 * Pause, resume and throttle: the `pause` and `resume` signals and the `throttle` update set what a long step reads
 * between its bounded activity calls (a slot move, a copy, a live sync), so that they take effect within seconds.
 */
import { setHandler } from '@temporalio/workflow';
import { pauseSignal, resumeSignal, throttleUpdate } from './messages';

export interface Controlled {
  paused: boolean;
  /** undefined: unlimited. */
  keysPerSecond?: number;
}

/** Points the handlers at `target` (the step running now; a later step points them at its own). */
export function installControls(target: Controlled): void {
  setHandler(pauseSignal, () => void (target.paused = true));
  setHandler(resumeSignal, () => void (target.paused = false));
  setHandler(
    throttleUpdate,
    (keysPerSecond) => {
      target.keysPerSecond = keysPerSecond ?? undefined;
      return keysPerSecond;
    },
    {
      validator: (keysPerSecond) => {
        if (keysPerSecond !== null && !(keysPerSecond > 0))
          throw new Error('throttle must be a positive number of keys per second, or null');
      },
    },
  );
}
