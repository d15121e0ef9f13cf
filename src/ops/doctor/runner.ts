// Runs checks as a small DAG: every check starts as soon as the checks it depends on have
// finished, independent checks run concurrently, each within its own timeout, and a check whose
// dependency failed is skipped with the reason instead of failing again for the same cause. The
// runner knows nothing about AWS; it only sequences, times and contains.

import { CoderdbError, isCoderdbError } from '../../core/errors.js';
import { scrub } from '../../core/secret.js';
import { CheckFailure, type CheckResult, type CheckSpec, type Finding } from './types.js';

export interface RunOptions<C> {
  /** Per-check timeout unless the check sets its own. */
  timeoutMs: number;
  /**
   * Adjusts a check's finding after it ran (the doctor downgrades failures that do not matter
   * for the profile's transport). Dependents are skipped on the original status, not the
   * adjusted one: a downgraded failure still means what depends on it cannot be checked.
   */
  adjust?: (spec: CheckSpec<C>, finding: Finding) => Finding;
  /** Called as each check finishes, in completion order. */
  onResult?: (result: CheckResult) => void;
}

interface Outcome {
  result: CheckResult;
  /** Whether dependents must be skipped: the check failed or was skipped before adjustment. */
  blocking: boolean;
  /** The check whose failure (or skip) this outcome comes down to, for naming it in skips. */
  cause: { id: string; title: string; failed: boolean };
}

/** Rejects duplicate ids, unknown dependencies and cycles; returns the specs by id. */
export function validateGraph<C>(specs: readonly CheckSpec<C>[]): Map<string, CheckSpec<C>> {
  const byId = new Map<string, CheckSpec<C>>();
  for (const spec of specs) {
    if (byId.has(spec.id)) throw graphError(`two checks are named ${spec.id}`);
    byId.set(spec.id, spec);
  }
  for (const spec of specs) {
    for (const dep of spec.dependsOn ?? []) {
      if (!byId.has(dep)) throw graphError(`check ${spec.id} depends on unknown check ${dep}`);
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]) => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting')
      throw graphError(`checks depend on each other: ${[...path, id].join(' → ')}`);
    state.set(id, 'visiting');
    for (const dep of byId.get(id)?.dependsOn ?? []) visit(dep, [...path, id]);
    state.set(id, 'done');
  };
  for (const spec of specs) visit(spec.id, []);
  return byId;
}

function graphError(message: string): CoderdbError {
  return new CoderdbError('internal', 'doctor.graph', message);
}

/** Runs every check; resolves with the results in the order the specs were given. */
export async function runChecks<C>(
  specs: readonly CheckSpec<C>[],
  context: C,
  options: RunOptions<C>,
): Promise<CheckResult[]> {
  const byId = validateGraph(specs);
  const outcomes = new Map<string, Promise<Outcome>>();
  const outcomeOf = (id: string): Promise<Outcome> => {
    let outcome = outcomes.get(id);
    if (!outcome) {
      outcome = runOne(byId.get(id)!, context, options, outcomeOf);
      outcomes.set(id, outcome);
    }
    return outcome;
  };
  const all = await Promise.all(specs.map((spec) => outcomeOf(spec.id)));
  return all.map((outcome) => outcome.result);
}

async function runOne<C>(
  spec: CheckSpec<C>,
  context: C,
  options: RunOptions<C>,
  outcomeOf: (id: string) => Promise<Outcome>,
): Promise<Outcome> {
  const deps = await Promise.all(
    (spec.dependsOn ?? []).map(async (id) => ({ id, ...(await outcomeOf(id)) })),
  );
  const started = performance.now();
  const blocker = deps.find((dep) => dep.blocking);
  let finding: Finding;
  if (blocker) {
    // Name the root cause, not the chain of skips that leads to it.
    const { id, title, failed } = blocker.cause;
    finding = {
      status: 'skip',
      finding: `skipped: needs ${id} (${title}), which ${failed ? 'failed' : 'was skipped'}`,
      fix: null,
    };
  } else {
    finding = await runWithTimeout(spec, context, spec.timeoutMs ?? options.timeoutMs);
  }
  const blocking = finding.status === 'fail' || finding.status === 'skip';
  const adjusted = blocker || !options.adjust ? finding : options.adjust(spec, finding);
  const result: CheckResult = {
    id: spec.id,
    title: spec.title,
    status: adjusted.status,
    finding: oneLine(scrub(adjusted.finding)),
    fix: adjusted.fix ? scrub(adjusted.fix) : null,
    details: (adjusted.details ?? []).map((line) => scrub(line)),
    durationMs: Math.round(performance.now() - started),
  };
  options.onResult?.(result);
  const cause = blocker
    ? blocker.cause
    : { id: spec.id, title: spec.title, failed: finding.status === 'fail' };
  return { result, blocking, cause };
}

async function runWithTimeout<C>(spec: CheckSpec<C>, context: C, timeoutMs: number): Promise<Finding> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Finding>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({
          status: 'fail',
          finding: `no answer within ${formatSeconds(timeoutMs)}`,
          fix: 'check the network path to AWS (region, proxy, VPN, endpoint override), then run again; --timeout <seconds> allows longer',
        }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([spec.run(context).catch(errorFinding), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whatever a check threw, as a failure: CoderdbErrors carry their own finding and fix. */
export function errorFinding(error: unknown): Finding {
  if (error instanceof CheckFailure) {
    return { status: 'fail', finding: error.message, fix: error.hint ?? null, details: error.details };
  }
  if (isCoderdbError(error)) {
    return {
      status: 'fail',
      finding: error.message,
      fix: error.hint ?? null,
      details: error.detail ? error.detail.split('\n') : [],
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    status: 'fail',
    finding: `the check itself broke: ${message}`,
    fix: 'this is a bug in coderdb; run again with CODERDB_DEBUG=1 and report it',
    details:
      error instanceof Error && error.stack && process.env.CODERDB_DEBUG ? error.stack.split('\n') : [],
  };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
