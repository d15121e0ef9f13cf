// The sandbox as a user meets it: the demo of the README's first command, start/status/env/stop,
// and the exports of `sandbox env` pointing psql and the AWS CLI at it.

import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, createHome } from '../helpers/cli.js';

const hasAws = spawnSync('aws', ['--version'], { timeout: 30_000 }).status === 0;

describe('sandbox', () => {
  const home = createHome();
  afterAll(async () => {
    await home.cli(['sandbox', 'stop']);
    home.remove();
  });

  it('runs the demo end to end and leaves nothing running', async () => {
    const demo = await home.cli(['sandbox', 'demo'], { timeoutMs: 240_000 });
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toContain('Demo complete: every step behaved as expected.');
    for (const step of [
      'List the tables',
      'Plan the rebrand',
      'Undo it from the undo file',
      'The audit log',
    ]) {
      expect(demo.stdout).toContain(step);
    }
    expect(demo.stdout).toContain('A minimal starter template for Workbench');
    const status = await home.cli(['sandbox', 'status', '--format', 'json']);
    expect(JSON.parse(status.stdout)).toEqual({ running: false });
  });

  it('starts once, reports its status and exports for coderdb, psql and the AWS CLI', async () => {
    const first = await home.cli(['sandbox', 'start'], { timeoutMs: 180_000 });
    expect(first.code, first.stderr).toBe(0);
    const second = await home.cli(['sandbox', 'start']);
    expect(second.stderr).toContain('already running');
    const status = JSON.parse((await home.cli(['sandbox', 'status', '--format', 'json'])).stdout);
    expect(status).toMatchObject({ running: true, engine: 'pglite', scenario: 'healthy' });

    const env = await home.cli(['sandbox', 'env']);
    expect(env.stdout).toContain('export CODERDB_PROFILE=sandbox');
    expect(env.stdout).toContain(`export AWS_ENDPOINT_URL='${status.awsEndpoint}'`);
    const script = `eval "$(node ${CLI} sandbox env)" && node ${CLI} templates list --format json && psql "$CODER_PG_CONNECTION_URL" -XAtc "select count(*) from users"`;
    const shell = spawnSync('bash', ['-c', script], { env: home.env, encoding: 'utf8', timeout: 60_000 });
    expect(shell.status, shell.stderr).toBe(0);
    expect(shell.stdout).toContain('"name":"docker"');
    expect(shell.stdout.trim().split('\n').at(-1)).toMatch(/^\d+$/);
    if (hasAws) {
      const aws = spawnSync(
        'bash',
        [
          '-c',
          `eval "$(node ${CLI} sandbox env)" && aws sts get-caller-identity --endpoint-url "$AWS_ENDPOINT_URL" --output text`,
        ],
        { env: home.env, encoding: 'utf8', timeout: 60_000 },
      );
      expect(aws.status, aws.stderr).toBe(0);
      expect(aws.stdout).toContain('arn:aws:iam::');
    }

    const stop = await home.cli(['sandbox', 'stop']);
    expect(stop.stderr).toContain('has stopped');
    const again = await home.cli(['sandbox', 'stop']);
    expect(again.stderr).toContain('was not running');
    const noSandbox = await home.cli(['--profile', 'sandbox', 'tables']);
    expect(noSandbox.code).toBe(2);
    expect(noSandbox.stderr).toContain('the sandbox is not running');
  });
});
