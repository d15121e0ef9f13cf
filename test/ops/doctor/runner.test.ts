// The doctor's DAG runner on its own: dependencies, concurrency, skips naming the root cause,
// timeouts, thrown failures, adjustments that do not unblock dependents, and scrubbing.

import { describe, expect, it } from 'vitest';
import { rememberSecret } from '../../../src/core/secret.js';
import { runChecks, validateGraph } from '../../../src/ops/doctor/runner.js';
import {
  CheckFailure,
  type CheckResult,
  type CheckSpec,
  fail,
  pass,
  skip,
  warn,
} from '../../../src/ops/doctor/types.js';

type Spec = CheckSpec<null>;
const check = (id: string, run: Spec['run'], dependsOn: string[] = [], timeoutMs?: number): Spec => ({
  id,
  title: `title of ${id}`,
  scope: 'deployment',
  dependsOn,
  ...(timeoutMs ? { timeoutMs } : {}),
  run,
});

const byId = (results: CheckResult[]): Record<string, CheckResult> =>
  Object.fromEntries(results.map((r) => [r.id, r]));

describe('doctor runner', () => {
  it('starts a check only after its dependencies and returns results in declaration order', async () => {
    const events: string[] = [];
    const specs = [
      check('c', async () => {
        events.push('c');
        return pass('c ok');
      }, ['b']),
      check('a', async () => {
        events.push('a');
        return pass('a ok');
      }),
      check('b', async () => {
        events.push('b');
        return pass('b ok');
      }, ['a']),
    ];
    const results = await runChecks(specs, null, { timeoutMs: 5_000 });
    expect(results.map((r) => r.id)).toEqual(['c', 'a', 'b']);
    expect(events).toEqual(['a', 'b', 'c']);
    expect(results.every((r) => r.status === 'pass')).toBe(true);
  });

  it('runs independent checks concurrently', async () => {
    // Each waits for the other to have started: run one after the other, they would time out.
    let startedA!: () => void;
    let startedB!: () => void;
    const a = new Promise<void>((resolve) => {
      startedA = resolve;
    });
    const b = new Promise<void>((resolve) => {
      startedB = resolve;
    });
    const specs = [
      check('a', async () => {
        startedA();
        await b;
        return pass('a');
      }),
      check('b', async () => {
        startedB();
        await a;
        return pass('b');
      }),
    ];
    const results = await runChecks(specs, null, { timeoutMs: 5_000 });
    expect(results.map((r) => r.status)).toEqual(['pass', 'pass']);
  });

  it('skips dependents of a failure, naming the root cause through a chain of skips', async () => {
    const ran: string[] = [];
    const specs = [
      check('root', async () => fail('root is broken', 'fix the root')),
      check('mid', async () => {
        ran.push('mid');
        return pass('mid');
      }, ['root']),
      check('leaf', async () => {
        ran.push('leaf');
        return pass('leaf');
      }, ['mid']),
      check('na', async () => skip('not applicable here')),
      check('after-na', async () => {
        ran.push('after-na');
        return pass('');
      }, ['na']),
      check('after-warn', async () => {
        ran.push('after-warn');
        return pass('ran');
      }, ['warned']),
      check('warned', async () => warn('a warning', 'do something')),
    ];
    const results = byId(await runChecks(specs, null, { timeoutMs: 5_000 }));
    expect(ran.sort()).toEqual(['after-warn']);
    expect(results.mid).toMatchObject({
      status: 'skip',
      finding: 'skipped: needs root (title of root), which failed',
      fix: null,
    });
    expect(results.leaf).toMatchObject({
      status: 'skip',
      finding: 'skipped: needs root (title of root), which failed',
    });
    expect(results['after-na']).toMatchObject({
      status: 'skip',
      finding: 'skipped: needs na (title of na), which was skipped',
    });
    expect(results.root).toMatchObject({ status: 'fail', finding: 'root is broken', fix: 'fix the root' });
  });

  it('fails a check that does not answer in time, and the run still ends', async () => {
    const specs = [
      check('slow', () => new Promise(() => undefined)),
      check('slower', () => new Promise(() => undefined), [], 300),
      check('after', async () => pass('never'), ['slow']),
    ];
    const results = byId(await runChecks(specs, null, { timeoutMs: 200 }));
    expect(results.slow).toMatchObject({ status: 'fail', finding: 'no answer within 0.2 s' });
    expect(results.slow?.fix).toContain('--timeout');
    expect(results.slower).toMatchObject({ status: 'fail', finding: 'no answer within 0.3 s' });
    expect(results.after?.status).toBe('skip');
  });

  it('turns thrown CheckFailures and other errors into failures', async () => {
    const specs = [
      check('thrown', async () => {
        throw new CheckFailure('x.y', 'it broke', 'mend it', ['line 1']);
      }),
      check('bug', async () => {
        throw new TypeError('undefined is not a function');
      }),
    ];
    const results = byId(await runChecks(specs, null, { timeoutMs: 1_000 }));
    expect(results.thrown).toMatchObject({
      status: 'fail',
      finding: 'it broke',
      fix: 'mend it',
      details: ['line 1'],
    });
    expect(results.bug?.status).toBe('fail');
    expect(results.bug?.finding).toContain('the check itself broke: undefined is not a function');
  });

  it('adjusts findings without unblocking what depends on the original failure', async () => {
    const specs = [
      check('exec-only', async () => fail('exec is off', 'turn it on')),
      check('dependent', async () => pass('ran'), ['exec-only']),
    ];
    const results = byId(
      await runChecks(specs, null, {
        timeoutMs: 1_000,
        adjust: (_spec, finding) => (finding.status === 'fail' ? { ...finding, status: 'warn' } : finding),
      }),
    );
    expect(results['exec-only']?.status).toBe('warn');
    expect(results.dependent?.status).toBe('skip');
  });

  it('scrubs secrets from findings, fixes and details, and flattens findings to one line', async () => {
    rememberSecret('hunter2-secret-value');
    const specs = [
      check('leaky', async () =>
        fail(
          'connecting to postgres://coder:pw123@db:5432/coder\nfailed: hunter2-secret-value',
          'password=abc',
          ['hunter2-secret-value'],
        ),
      ),
    ];
    const [result] = await runChecks(specs, null, { timeoutMs: 1_000 });
    expect(result?.finding).toBe('connecting to postgres://coder:***@db:5432/coder failed: ***');
    expect(result?.fix).toBe('password=***');
    expect(result?.details).toEqual(['***']);
  });

  it('rejects duplicate ids, unknown dependencies and cycles', () => {
    const ok = async () => pass('');
    expect(() => validateGraph([check('a', ok), check('a', ok)])).toThrow(/two checks are named a/);
    expect(() => validateGraph([check('a', ok, ['zz'])])).toThrow(/unknown check zz/);
    expect(() => validateGraph([check('a', ok, ['b']), check('b', ok, ['a'])])).toThrow(/a → b → a/);
  });
});
