// When the task cannot reach the database (RDS's security group does not admit the task, or the
// instance is stopped) the agent's dial fails: ConnectToPortError. Both the transport and
// `coderdb tunnel` must say "connection to the database port failed", and the tunnel must live on.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { until } from '../helpers/wait.js';
import { control, pgQuery, psql, startTunnel } from './tunnel-helpers.js';

describe('a tunnel whose destination refuses', () => {
  let sandbox: TestSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite', scenario: 'sg-blocks-db' });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('fails --transport tunnel with a clear connection error', async () => {
    const result = await sandbox.run(['--transport', 'tunnel', 'query', 'select 1'], { timeoutMs: 60_000 });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      /^coderdb: connection to the database port failed: the task could not connect to 127\.0\.0\.1:\d+/m,
    );
    expect(result.stderr).toContain('ConnectToPortError');
    expect(result.stderr).toMatch(/hint: .*security group/);
  });

  it('tells each client of coderdb tunnel, keeps serving, and still exits 0 on Ctrl-C', async () => {
    const tunnel = await startTunnel(sandbox.env);
    try {
      const first = await psql(tunnel.url, 'select 1');
      expect(first.code).not.toBe(0);
      // psql shows the FATAL the tunnel answered with.
      expect(first.stderr).toContain('connection to the database port failed');
      await expect(pgQuery(tunnel.url, 'select 1')).rejects.toThrow(/connection to the database port failed/);
      // The tunnel reports each refused client on its own stderr.
      await until(
        () => (tunnel.stderr().match(/coderdb: connection to the database port failed/g)?.length ?? 0) === 2,
        5000,
        'two refusals on the tunnel stderr',
      );

      // The security group is fixed: the same session now gets through.
      await control(sandbox.state).scenario('healthy');
      expect((await psql(tunnel.url, 'select 41 + 1')).stdout.toString()).toBe('42\n');

      await control(sandbox.state).scenario('rds-stopped');
      const stopped = await psql(tunnel.url, 'select 1');
      expect(stopped.stderr).toContain('connection to the database port failed');
      expect(await tunnel.interrupt()).toBe(0);
    } finally {
      tunnel.kill();
      await control(sandbox.state).scenario('sg-blocks-db');
    }
  });
});
