// `sandbox start --private`: the sandbox as a private VPC. The `sandbox` profile names no URL and
// the secret names the RDS instance's private DNS name, so `auto` takes the path it takes against a
// real deployment (a tunnel through the task, exec when port forwarding is not allowed) and never
// a direct connection, which is not even possible from this machine.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

const RDS_HOST = 'coder-postgres.c8q2xk4mbt7e.us-east-1.rds.amazonaws.com';

interface AuditRecord {
  transport?: string;
  command?: string;
  outcome?: string;
}

describe('a private sandbox (no direct path)', () => {
  let sandbox: TestSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite', private: true });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  /** The context line (-v) of a command that opened a database session. */
  const contextOf = (stderr: string) => stderr.split('\n').find((line) => line.startsWith('sandbox · '));

  it('auto goes through the task for every command, never direct', async () => {
    const commands = [
      ['query', 'select count(*) from templates'],
      ['tables'],
      ['templates', 'list'],
      ['describe', 'templates'],
      ['db', 'size'],
    ];
    for (const args of commands) {
      const result = await sandbox.run(['-v', ...args], { timeoutMs: 90_000 });
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(contextOf(result.stderr), args.join(' ')).toMatch(
        new RegExp(` · via tunnel \\S+@${RDS_HOST.replace(/\./g, '\\.')}:\\d+/\\S+ via task `),
      );
    }
    const audit = await sandbox.run(['audit', '--format', 'json', '--limit', '100']);
    expect(audit.code, audit.stderr).toBe(0);
    const records = (JSON.parse(audit.stdout) as AuditRecord[]).filter((record) => record.transport);
    expect(records.length).toBeGreaterThanOrEqual(commands.length);
    expect(new Set(records.map((record) => record.transport))).toEqual(new Set(['tunnel']));
  });

  it('falls back to exec when port forwarding is not allowed, still not direct', async () => {
    const switched = await sandbox.run(['sandbox', 'start', '--scenario', 'caller-missing-start-session']);
    expect(switched.code, switched.stderr).toBe(0);
    try {
      const result = await sandbox.run(['-v', 'query', 'select 6 * 7 as answer', '--format', 'csv'], {
        timeoutMs: 90_000,
      });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe('answer\n42\n');
      expect(contextOf(result.stderr)).toMatch(/ · via exec coder-cluster task /);
    } finally {
      await sandbox.run(['sandbox', 'start', '--scenario', 'healthy']);
    }
  });

  it('gives no URL to connect to: sandbox env exports none, config says tunnel, direct cannot connect', async () => {
    const env = await sandbox.run(['sandbox', 'env']);
    expect(env.code).toBe(0);
    expect(env.stdout).not.toContain('export CODER_PG_CONNECTION_URL');
    expect(env.stdout).toContain('# private sandbox: no CODER_PG_CONNECTION_URL');

    const config = await sandbox.run(['config', 'show', '-o', 'json']);
    expect(config.code, config.stderr).toBe(0);
    expect(JSON.parse(config.stdout).transport).toMatchObject({
      configured: 'auto',
      picks: 'tunnel, else exec',
    });

    // The secret names the instance's private DNS name: from outside the VPC there is no route.
    const direct = await sandbox.run(['--transport', 'direct', 'query', 'select 1'], { timeoutMs: 60_000 });
    expect(direct.code).toBe(3);
    expect(direct.stderr).toContain(RDS_HOST);

    const status = JSON.parse((await sandbox.run(['sandbox', 'status', '--format', 'json'])).stdout);
    expect(status).toMatchObject({ running: true, private: true });
    const restart = await sandbox.run(['sandbox', 'start']);
    expect(restart.code).toBe(0);
    const noPrivate = await sandbox.run(['sandbox', 'start', '--private']);
    expect(noPrivate.code).toBe(0);
  });
});
