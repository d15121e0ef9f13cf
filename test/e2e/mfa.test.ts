// An AWS profile that assumes a role with MFA (role_arn + mfa_serial), as operators' profiles often
// do: the SDK refuses such profiles unless a code provider is given, so coderdb asks for the code on
// the terminal (driven here through a real pty), and says clearly when there is no terminal.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CREDENTIALS } from '../../src/core/sandbox-state.js';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

let sandbox: TestSandbox;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  sandbox = await startSandbox();
  mkdirSync(join(sandbox.dir, 'config', 'coderdb'), { recursive: true });
  writeFileSync(
    join(sandbox.dir, 'config', 'coderdb', 'config.json'),
    JSON.stringify({
      profiles: {
        ops: { awsEndpoint: sandbox.state.awsEndpoint, awsProfile: 'operator-mfa', transport: 'direct' },
      },
    }),
  );
  writeFileSync(
    join(sandbox.dir, 'aws-credentials'),
    `[base]\naws_access_key_id = ${SANDBOX_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${SANDBOX_CREDENTIALS.secretAccessKey}\n`,
  );
  writeFileSync(
    join(sandbox.dir, 'aws-config'),
    [
      '[profile operator-mfa]',
      'role_arn = arn:aws:iam::123456789012:role/coder-operator',
      'source_profile = base',
      'mfa_serial = arn:aws:iam::123456789012:mfa/operator',
      'region = us-east-1',
      '',
    ].join('\n'),
  );
  env = { ...sandbox.env, CODERDB_PROFILE: 'ops', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
});
afterAll(async () => {
  await sandbox?.stop();
});

function runInTerminal(args: string[], answer: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const term = pty.spawn(process.execPath, [CLI, ...args], {
      env: env as Record<string, string>,
      cols: 120,
      rows: 30,
    });
    let output = '';
    let answered = false;
    const timer = setTimeout(() => {
      term.kill();
      reject(new Error(`no exit; output so far: ${output}`));
    }, 120_000);
    term.onData((data) => {
      output += data;
      if (!answered && output.includes('MFA code for arn:aws:iam::123456789012:mfa/operator')) {
        answered = true;
        term.write(`${answer}\r`);
      }
    });
    term.onExit(({ exitCode }) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    });
  });
}

describe('MFA', () => {
  it('asks for the code on a terminal and goes on with the assumed role', async () => {
    const result = await runInTerminal(
      ['query', 'select count(*) as n from templates', '--format', 'json'],
      '123456',
    );
    expect(result.code, result.output).toBe(0);
    expect(result.output).toMatch(/"n":\s*\d+/);
  });

  it('refuses a wrong code with one clear line', async () => {
    const result = await runInTerminal(['tables'], '000000');
    expect(result.code).toBe(3);
    expect(result.output).toMatch(/coderdb: .*MultiFactorAuthentication failed/);
  });

  it('says that a code is needed when there is no terminal', async () => {
    const result = await sandbox.run(['tables'], { env });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('requires an MFA code');
    expect(result.stderr).toContain('no terminal');
  });
});
