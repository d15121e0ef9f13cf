// Ctrl-C (and a reader that closed our stdout) end a command gracefully: the signal aborts what is
// running, so an ECS Exec or tunnel session is terminated at once (psql in the task stops and its
// transaction rolls back) instead of lingering until the service times it out, holding locks on
// the production database. The process then exits; a second Ctrl-C, or a clean-up that takes
// longer than the grace period, exits at once, and so does a command with no session open (doctor
// between checks, a prompt, the sandbox), which has nothing to end.

import { getEventListeners } from 'node:events';
import { CoderdbError } from '../core/errors.js';

const GRACE_MS = 5_000;

const controller = new AbortController();
let exitCode = 130;

/** Aborted on the first interruption; commands hand it to the operations they run. */
export const interruption: AbortSignal = controller.signal;

/** Starts a graceful exit with `code`; a second call exits at once. */
export function interrupt(code: number, message?: string): void {
  if (controller.signal.aborted) process.exit(exitCode);
  exitCode = code;
  // Also for a process that would have ended on its own anyway (the failure came after the work).
  process.exitCode = code;
  if (message) process.stderr.write(message);
  // Sessions listen while they are open; with none, there is nothing to end cleanly.
  const sessionsOpen = getEventListeners(controller.signal, 'abort').length > 0;
  controller.abort(new CoderdbError('interrupted', 'cli.interrupted', 'interrupted'));
  if (!sessionsOpen) process.exit(code);
  setTimeout(() => process.exit(exitCode), GRACE_MS).unref();
}

/** The exit status an interruption decided, once there was one. */
export function interruptedExitCode(): number | undefined {
  return controller.signal.aborted ? exitCode : undefined;
}
