// The real AWS CLI (botocore) pointed at a test endpoint, for the tests that prove the emulation
// speaks the real protocols: botocore serializes and parses from its own service models, not one
// SDK's dialect. It runs with the sandbox's keys in a throwaway home, so no configuration of the
// machine's leaks in. Those tests are skipped, with a message, when `aws` is not installed.

import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CREDENTIALS } from './helpers.js';

export const hasAwsCli = spawnSync('aws', ['--version'], { encoding: 'utf8', timeout: 30_000 }).status === 0;

/** The describe title, saying so when the tests are skipped. */
export const awsCliTitle = (title: string) =>
  hasAwsCli ? title : `${title} (skipped: the \`aws\` command is not installed)`;

export interface AwsCliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface AwsCli {
  /** Runs `aws <args> --output json` against the endpoint. */
  run(...args: string[]): Promise<AwsCliResult>;
  /** Like `run`, expecting success and no stderr; the parsed output. */
  json(...args: string[]): Promise<unknown>;
  /** Removes the home. */
  remove(): void;
}

export function awsCli(endpointUrl: string): AwsCli {
  const home = mkdtempSync(join(tmpdir(), 'coderdb-aws-cli-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: endpointUrl,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_MAX_ATTEMPTS: '1',
  };
  for (const name of ['PYENV_ROOT', 'PYENV_VERSION', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  const run = (...args: string[]) =>
    new Promise<AwsCliResult>((resolve) => {
      // --endpoint-url as well as AWS_ENDPOINT_URL: CLI releases before 1.29/2.13 (Debian 12 ships
      // 2.9) ignore the variable, and v1 ignores it for `rds` in us-east-1.
      const endpoint = args.includes('--endpoint-url') ? [] : ['--endpoint-url', endpointUrl];
      execFile(
        'aws',
        [...args, ...endpoint, '--output', 'json'],
        { env, timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  return {
    run,
    async json(...args) {
      const r = await run(...args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout);
    },
    remove: () => rmSync(home, { recursive: true, force: true }),
  };
}
