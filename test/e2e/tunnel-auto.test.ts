// The default transport (auto) for an AWS profile, i.e. one with no URL: the URL comes from the
// secret and the connection goes through a tunnel; with a URL it goes direct; when the caller may
// not start port-forwarding sessions, psql in the container (exec) is used instead.
// (tunnel-auto-denied.test.ts: neither is possible.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CREDENTIALS } from '../../src/core/sandbox-state.js';
import type { Home } from '../helpers/cli.js';
import { json } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { awsProfileHome, control } from './tunnel-helpers.js';

type AuditEntry = { transport: string; target: string; statement: string };

describe('the auto transport', () => {
  let sandbox: TestSandbox;
  let operator: Home;
  const lastAudit = async () => json<AuditEntry[]>(await operator.cli(['audit', '--format', 'json'])).at(-1);

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite' });
    operator = awsProfileHome(sandbox.state, SANDBOX_CREDENTIALS);
  });
  afterAll(async () => {
    operator?.remove();
    await sandbox?.stop();
  });

  it('tunnels for a profile without a URL, with the URL from the secret', async () => {
    const result = await operator.cli(
      ['query', 'select count(*)::int as users from users', '--format', 'json'],
      {
        timeoutMs: 60_000,
      },
    );
    expect(result.stderr).toBe('');
    const direct = json<{ users: number }[]>(
      await sandbox.run([
        '--transport',
        'direct',
        'query',
        'select count(*)::int as users from users',
        '--format',
        'json',
      ]),
    );
    expect(json(result)).toEqual(direct);
    expect(await lastAudit()).toMatchObject({
      transport: 'tunnel',
      target: expect.stringMatching(/^tunnel /),
    });
  });

  it('goes direct when a URL is given', async () => {
    const result = await operator.cli(['query', 'select 1 as one', '--format', 'json'], {
      env: { CODERDB_URL: sandbox.state.databaseUrl },
    });
    expect(json(result)).toEqual([{ one: 1 }]);
    expect(await lastAudit()).toMatchObject({ transport: 'direct' });
    const withUrlEnv = await operator.cli(['query', 'select 2 as two', '--format', 'json'], {
      env: { CODER_PG_CONNECTION_URL: sandbox.state.databaseUrl },
    });
    expect(json(withUrlEnv)).toEqual([{ two: 2 }]);
    expect(await lastAudit()).toMatchObject({ transport: 'direct' });
  });

  it('falls back to psql in the container (exec) when port forwarding is not allowed', async () => {
    await control(sandbox.state).scenario('caller-missing-start-session');
    try {
      const result = await operator.cli(['query', 'select 3 as three', '--format', 'json'], {
        timeoutMs: 90_000,
      });
      expect(json(result)).toEqual([{ three: 3 }]);
      expect(await lastAudit()).toMatchObject({ transport: 'exec' });
    } finally {
      await control(sandbox.state).scenario('healthy');
    }
  });
});
