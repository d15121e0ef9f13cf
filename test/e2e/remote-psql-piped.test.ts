// `echo 'select 1;' | coderdb psql`: with piped stdin, the built CLI feeds the input to psql in the
// container, ends when psql ends after EOF, and exits with psql's status. The output is compared
// with a local psql fed the same input against the same database (the sandbox's container runs the
// same psql binary), byte for byte.

import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

const INPUT = "select 40+2 as answer;\nselect 'a' as x, 'b' as y union all select 'c', 'd';\n";

describe('coderdb psql with piped input', () => {
  let sandbox: TestSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  const localPsql = (input: string, args: string[] = []) =>
    spawnSync('psql', ['--pset=pager=off', ...args, sandbox.state.databaseUrl], {
      input,
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('runs the input to its end and prints what psql prints', async () => {
    const result = await sandbox.run(['psql'], { input: INPUT, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    const reference = localPsql(INPUT);
    expect(reference.status).toBe(0);
    expect(result.stdout).toBe(reference.stdout);
    expect(result.stdout).toContain('42');
  });

  it("exits with psql's status", async () => {
    const input = 'select 1/0;\nselect 2;\n';
    const result = await sandbox.run(['psql', '--', '-v', 'ON_ERROR_STOP=1'], { input, timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout).toMatch(/division by zero/);
    expect(result.stdout).not.toMatch(/\?column\?/);
  });
});
