// Shared by the doctor end-to-end tests: `coderdb doctor --json` through the built CLI against a
// sandbox, its checks (also by id), and the time allowances a loaded test machine needs.

import type { TestSandbox } from '../helpers/sandbox.js';

export interface Check {
  id: string;
  title: string;
  status: 'pass' | 'warn' | 'fail' | 'skip';
  finding: string;
  fix: string | null;
}

/** Test machines run many suites at once; a generous per-check timeout keeps load from failing checks. */
export const SLOW_MACHINE = ['--timeout', '30'];
/** For tests that run doctor several times. */
export const SEVERAL_RUNS = 180_000;

/** Runs `coderdb doctor --json` with `args`; fails when it prints no JSON. */
export async function runDoctor(sandbox: TestSandbox, args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = await sandbox.run(['doctor', '--json', ...SLOW_MACHINE, ...args], { env });
  let checks: Check[];
  try {
    checks = (JSON.parse(result.stdout) as { checks: Check[] }).checks;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${result.code}): ${result.stderr}`);
  }
  const byId = Object.fromEntries(checks.map((c) => [c.id, c])) as Record<string, Check>;
  return {
    code: result.code,
    checks,
    byId,
    stdout: result.stdout,
    stderr: result.stderr,
    output: result.stdout + result.stderr,
  };
}
