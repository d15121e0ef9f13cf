// The auto transport when nothing through the task can work: the caller may not start
// port-forwarding sessions and the container has no psql. The error names the missing permission
// (ssm:StartSession on the task and the document) and the missing package.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CREDENTIALS } from '../../src/core/sandbox-state.js';
import type { Home } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { awsProfileHome } from './tunnel-helpers.js';

describe('the auto transport with no route through the task', () => {
  let sandbox: TestSandbox;
  let operator: Home;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite', scenario: 'caller-missing-start-session+psql-missing' });
    operator = awsProfileHome(sandbox.state, SANDBOX_CREDENTIALS);
  });
  afterAll(async () => {
    operator?.remove();
    await sandbox?.stop();
  });

  it('says which permission and which package are missing', async () => {
    const result = await operator.cli(['query', 'select 1'], { timeoutMs: 90_000 });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('ssm:StartSession was denied');
    expect(result.stderr).toMatch(/psql in the container \(exec\) failed: .*psql is not installed/);
    expect(result.stderr).toMatch(
      /hint: allow ssm:StartSession on .*task\/coder-cluster\/\* and on .*document\/AWS-StartPortForwardingSessionToRemoteHost/,
    );
    expect(result.stderr).toMatch(/install psql in the container image and allow ecs:ExecuteCommand/);
  });

  it('makes coderdb tunnel name the permission port forwarding needs', async () => {
    const tunnel = await operator.cli(['tunnel'], { timeoutMs: 60_000 });
    expect(tunnel.code).toBe(3);
    expect(tunnel.stderr).toContain('port forwarding through the task is not allowed');
    expect(tunnel.stderr).toContain('not ecs:ExecuteCommand');
  });
});
