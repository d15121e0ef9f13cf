// Deadlines for tests' waits, so that a hang fails with what was awaited instead of the test
// timeout: the same deadline the SSM channel puts on its own waits (src/ssm/timing.ts).

import { sleep, withTimeout } from '../../src/ssm/timing.js';

/** `promise`, or a rejection naming `what` after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return withTimeout(promise, ms, () => new Error(`timed out after ${ms} ms waiting for ${what}`));
}

/** Polls `condition` every 20 ms until it holds. */
export async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  await within(
    (async () => {
      while (!condition()) await sleep(20);
    })(),
    ms,
    what,
  );
}
