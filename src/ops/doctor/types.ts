// The vocabulary of `coderdb doctor`: a check is a named question about the deployment with the
// checks it depends on; its answer is a status, a one-line finding and, when something is wrong,
// a concrete fix. Kept free of AWS types so that the runner, the renderers and tests share it.

import { CoderdbError } from '../../core/errors.js';

export const STATUSES = ['pass', 'warn', 'fail', 'skip'] as const;
export type CheckStatus = (typeof STATUSES)[number];

/** What a check returns. */
export interface Finding {
  status: CheckStatus;
  /** One line: what was found. */
  finding: string;
  /** What to do about it: an IAM statement, a flag, a command. Null when nothing needs doing. */
  fix?: string | null;
  /** Supporting lines shown under the finding (always for failures, with -v for the rest). */
  details?: string[];
}

/** A finished check, as reported. */
export interface CheckResult {
  id: string;
  title: string;
  status: CheckStatus;
  finding: string;
  fix: string | null;
  details: string[];
  durationMs: number;
}

/**
 * Which transports a check matters for: `agent` only for those that go through the ECS Exec agent
 * (exec, tunnel, auto); `aws` for anything that calls AWS (all but direct with a URL);
 * `deployment` always (the database, the secret Coder itself reads, the end-to-end probe).
 */
export type CheckScope = 'agent' | 'aws' | 'deployment';

export interface CheckSpec<C> {
  /** Stable identifier, documented; never renamed. */
  id: string;
  title: string;
  /** Checks that must pass (or warn) first; when one fails or is skipped, this one is skipped. */
  dependsOn?: readonly string[];
  scope: CheckScope;
  /** Overrides the run's per-check timeout (the end-to-end probe needs longer). */
  timeoutMs?: number;
  run(context: C): Promise<Finding>;
}

export const pass = (finding: string, details: string[] = []): Finding => ({
  status: 'pass',
  finding,
  fix: null,
  details,
});
export const warn = (finding: string, fix: string | null, details: string[] = []): Finding => ({
  status: 'warn',
  finding,
  fix,
  details,
});
export const fail = (finding: string, fix: string | null, details: string[] = []): Finding => ({
  status: 'fail',
  finding,
  fix,
  details,
});
export const skip = (finding: string, details: string[] = []): Finding => ({
  status: 'skip',
  finding,
  fix: null,
  details,
});

/**
 * Thrown from deep inside a check (or a shared lookup several checks use) when the answer is a
 * failure; the runner turns it into a `fail` with the message as finding and the hint as fix.
 */
export class CheckFailure extends CoderdbError {
  readonly details: string[];

  constructor(code: string, finding: string, fix: string | null, details: string[] = []) {
    super('checkFailed', code, finding, fix ? { hint: fix } : {});
    this.details = details;
  }
}
