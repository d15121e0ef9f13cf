// Small helpers that put a deadline on every wait of the SSM channel, plus the plugin's reconnect
// backoff, so no code path can hang on a peer that stopped answering.

import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/** Resolves or rejects like `promise`, or rejects with `onTimeout()` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export interface BackoffPolicy {
  attempts: number;
  /** The first delay is drawn uniformly from [initialMinMs, initialMaxMs). */
  initialMinMs: number;
  initialMaxMs: number;
  maxMs: number;
  factor: number;
}

/** session-manager-plugin config.go: 5 attempts, 100–200 ms first delay, doubling, 5 s cap. */
export const PLUGIN_BACKOFF: BackoffPolicy = {
  attempts: 5,
  initialMinMs: 100,
  initialMaxMs: 200,
  maxMs: 5000,
  factor: 2,
};

/** The delays to sleep between attempts: attempts − 1 of them. */
export function backoffDelays(policy: BackoffPolicy, random: () => number = Math.random): number[] {
  const delays: number[] = [];
  let delay = policy.initialMinMs + random() * (policy.initialMaxMs - policy.initialMinMs);
  for (let i = 1; i < policy.attempts; i++) {
    delays.push(Math.min(delay, policy.maxMs));
    delay *= policy.factor;
  }
  return delays;
}
