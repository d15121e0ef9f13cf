// The direct transport as operators use it: the URL from a flag, from Secrets Manager (a plain URL
// or RDS JSON) through the real SDK against the sandbox's emulated AWS, and every way of failing to
// connect giving one clear line, the right exit status and no password.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CREDENTIALS } from '../../src/core/sandbox-state.js';
import { CLI, json } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { switchScenario } from '../helpers/scenario.js';

let sandbox: TestSandbox;
let awsEnv: NodeJS.ProcessEnv;

const scenario = (name: string) => switchScenario(sandbox.state.awsEndpoint, name);

const viaAws = (...args: string[]) => sandbox.run(['--profile', 'aws', ...args], { env: awsEnv });

beforeAll(async () => {
  sandbox = await startSandbox();
  const config = join(sandbox.dir, 'config', 'coderdb');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(config, { recursive: true });
  // An AWS profile like an operator's, except that the endpoint is the sandbox's.
  writeFileSync(
    join(config, 'config.json'),
    JSON.stringify({ profiles: { aws: { awsEndpoint: sandbox.state.awsEndpoint, transport: 'direct' } } }),
  );
  awsEnv = {
    CODERDB_PROFILE: '',
    AWS_ACCESS_KEY_ID: SANDBOX_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: SANDBOX_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
  };
});
afterAll(async () => {
  await sandbox?.stop();
});

describe('direct transport', () => {
  it('reads the URL from Secrets Manager, as a plain URL or as RDS JSON', async () => {
    const plain = json<{ name: string }[]>(await viaAws('tables', '--format', 'json'));
    expect(plain.map((row) => row.name)).toContain('templates');
    const rds = json<{ n: number }[]>(
      await viaAws(
        '--secret-id',
        'coder-postgres-rds',
        'query',
        'select count(*) as n from templates',
        '--format',
        'json',
      ),
    );
    expect(rds[0]!.n).toBeGreaterThan(0);
    const audit = json<{ identity?: string }[]>(await viaAws('audit', '--format', 'json', '--limit', '1'));
    expect(audit[0]!.identity).toMatch(/^arn:aws:iam::\d{12}:/);
  });

  it('says clearly when the secret is missing or malformed, without printing it', async () => {
    await scenario('secret-missing');
    const missing = await viaAws('tables');
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('secret "coder-postgres-url" does not exist');
    expect(missing.stderr.trim().split('\n')).toHaveLength(2);

    await scenario('secret-malformed');
    const malformed = await viaAws('tables');
    expect(malformed.code).toBeGreaterThan(1);
    expect(malformed.stderr).not.toMatch(/at .*\.js:\d+/);
    await scenario('healthy');
  });

  it('fails without AWS credentials with one line and a hint', async () => {
    const result = await sandbox.run(['--profile', 'aws', 'tables'], {
      env: { CODERDB_PROFILE: '', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: 'nobody' },
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^coderdb: .*credentials/m);
    expect(result.stderr).toContain('hint:');
  });

  it('reports bad URLs, refused connections and unknown databases without the password', async () => {
    const bad = await sandbox.run(['--url', 'not a url', 'tables'], { env: { CODERDB_PROFILE: '' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not a valid URL');

    const refused = await sandbox.run(['--url', 'postgres://coder:hunter2@127.0.0.1:1/coder', 'tables'], {
      env: { CODERDB_PROFILE: '' },
    });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('connection refused');
    expect(refused.stderr).toContain('coderdb doctor');
    expect(refused.stderr).not.toContain('hunter2');
    expect(refused.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports a connection dropped in the middle of a query as a connection error', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'query', '--format', 'csv', 'select 1 as started; select pg_sleep(30)'],
      {
        env: sandbox.env,
      },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // Once the first statement's result is out, the second is running on the server.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no output: ${stderr}`)), 120_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('started\n1\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    // The database process dies under the query, as a crashed or failed-over server would.
    process.kill(sandbox.state.pid, 'SIGKILL');
    const result = { code: await exited, stderr };
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split('\n')[0]).toMatch(/^coderdb: .*(lost|closed|terminated|reset)/);
  });
});
