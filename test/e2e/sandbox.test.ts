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

  /** The output of one numbered demo step: from its heading to the next one. */
  const stepOutput = (output: string, title: string): string => {
    const start = output.indexOf(title);
    expect(start, `step "${title}"`).toBeGreaterThan(-1);
    const next = output.indexOf('\n━━ ', start);
    return output.slice(start, next === -1 ? undefined : next);
  };

  it('runs the demo end to end in a private VPC: tunnel, exec, doctor, a backup; leaves nothing running', async () => {
    // No --engine: a local PostgreSQL 15 is installed here, so the demo runs on it and can back up.
    const demo = await home.cli(['sandbox', 'demo'], { timeoutMs: 240_000 });
    expect(demo.code, demo.stderr).toBe(0);
    // The context lines (-v) go to stderr, the steps to stdout, each in order.
    const output = demo.stdout + demo.stderr;
    expect(demo.stdout).toContain('Demo complete: every step behaved as expected.');
    expect(demo.stdout).toContain('Sandbox ready: postgres, scenario healthy, private VPC');
    for (const step of [
      'List the tables',
      'Plan the rebrand',
      'Undo it from the undo file',
      'The audit log',
    ]) {
      expect(demo.stdout).toContain(step);
    }
    expect(demo.stdout).toContain('A minimal starter template for Workbench');
    // auto had no direct path: it went through the task, by port forwarding.
    const contexts = demo.stderr.split('\n').filter((line) => line.startsWith('sandbox · '));
    expect(contexts).toHaveLength(2);
    expect(contexts[0]).toMatch(/ · via tunnel .* via task /);
    expect(contexts[1]).toMatch(/ · via exec coder-cluster task /);
    expect(output).not.toMatch(/ · via direct/);
    const doctor = stepOutput(demo.stdout, "doctor: the runbook's troubleshooting steps");
    expect(doctor).toMatch(/\d+ checks: \d+ passed, .*0 failed/);
    expect(doctor).toMatch(/select 1 over tunnel \(auto\)/);
    const backup = stepOutput(demo.stdout, 'A verified backup');
    const file = /^backup: (\S+\.dump)$/m.exec(backup)?.[1];
    expect(file, backup).toBeDefined();
    expect(backup).toContain('via exec task');
    const list = stepOutput(demo.stdout, 'The backups kept');
    expect(list).toContain(file!);
    expect(list).toMatch(/\| exec +\| custom +\| \S+ \(at backup\) \| ok +\|/);
    const status = await home.cli(['sandbox', 'status', '--format', 'json']);
    expect(JSON.parse(status.stdout)).toEqual({ running: false });
  });

  it('runs the demo on PGlite with the script pty, as on a fresh machine, and says why there is no backup', async () => {
    const demo = await home.cli(['sandbox', 'demo', '--engine', 'pglite'], {
      timeoutMs: 240_000,
      // A URL left over from an earlier `eval "$(coderdb sandbox env)"`, of a sandbox since stopped.
      env: {
        CODERDB_SANDBOX_PTY: 'script',
        CODER_PG_CONNECTION_URL: 'postgresql://postgres@127.0.0.1:9/postgres',
      },
    });
    expect(demo.code, demo.stderr).toBe(0);
    expect(demo.stdout).toContain('CODER_PG_CONNECTION_URL from the environment set aside');
    expect(demo.stdout).toContain('Sandbox ready: pglite, scenario healthy, private VPC');
    expect(demo.stdout).toContain('Demo complete: every step behaved as expected.');
    expect(demo.stderr).toMatch(/ · via tunnel .* via task /);
    expect(demo.stderr).toMatch(/ · via exec coder-cluster task /);
    expect(demo.stdout).toContain('(backup) skipped: PGlite is PostgreSQL 18');
    expect(demo.stdout).not.toContain('$ coderdb --profile sandbox backup');
    expect(JSON.parse((await home.cli(['sandbox', 'status', '--format', 'json'])).stdout)).toEqual({
      running: false,
    });
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

  it('refuses an unknown scenario with one line naming the known ones, before starting anything', async () => {
    for (const command of ['start', 'demo']) {
      const result = await home.cli(['sandbox', command, '--scenario', 'nope']);
      expect(result.code).toBe(2);
      expect(result.stderr.split('\n')[0]).toBe('coderdb: unknown sandbox scenario "nope"');
      expect(result.stderr).toContain('exec-disabled');
      expect(result.stderr).not.toMatch(/internal|\bat .*:\d+:\d+/);
    }
    expect(JSON.parse((await home.cli(['sandbox', 'status', '--format', 'json'])).stdout)).toEqual({
      running: false,
    });
  });

  it('applies --scenario to a running sandbox, and refuses what needs a new one', async () => {
    expect((await home.cli(['sandbox', 'start'], { timeoutMs: 180_000 })).code).toBe(0);
    try {
      const switched = await home.cli(['sandbox', 'start', '--scenario', 'exec-disabled']);
      expect(switched.code, switched.stderr).toBe(0);
      expect(switched.stderr).toContain('its scenario is now exec-disabled');
      const status = JSON.parse((await home.cli(['sandbox', 'status', '--format', 'json'])).stdout);
      expect(status.scenario).toBe('exec-disabled');
      // The emulated deployment really changed: ECS reports exec disabled on the service.
      const doctor = await home.cli([
        '--profile',
        'sandbox',
        'doctor',
        '--json',
        '--only',
        'ecs.service-exec',
      ]);
      const check = JSON.parse(doctor.stdout).checks.find((c: { id: string }) => c.id === 'ecs.service-exec');
      expect(check?.finding ?? '').toContain('ECS Exec is disabled');
      const engine = await home.cli(['sandbox', 'start', '--engine', 'postgres']);
      expect(engine.code).toBe(2);
      expect(engine.stderr).toContain('already running with --engine pglite');
      const same = await home.cli(['sandbox', 'start']);
      expect(same.code).toBe(0);
      expect(same.stderr).toContain('already running (pglite, scenario exec-disabled');
    } finally {
      await home.cli(['sandbox', 'stop']);
    }
  });

  it('prints the unset commands that undo `sandbox env`', async () => {
    const unset = await home.cli(['sandbox', 'env', '--unset']);
    expect(unset.code).toBe(0);
    const script = `export CODERDB_PROFILE=sandbox CODER_PG_CONNECTION_URL=x AWS_ENDPOINT_URL=y; eval "$(node ${CLI} sandbox env --unset)"; echo "[\${CODERDB_PROFILE-}\${CODER_PG_CONNECTION_URL-}\${AWS_ENDPOINT_URL-}]"`;
    const shell = spawnSync('bash', ['-c', script], { env: home.env, encoding: 'utf8', timeout: 60_000 });
    expect(shell.stdout.trim()).toBe('[]');
  });

  it('stops the sandbox it started when its reader goes away (sandbox demo | head)', async () => {
    const shell = spawnSync('bash', ['-c', `node ${CLI} sandbox demo | head -n 2`], {
      env: home.env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(shell.stdout).toContain('Starting the sandbox');
    // head has exited; coderdb stops the sandbox before it exits itself (bounded: 30 s).
    let status: { running: boolean } = { running: true };
    for (let i = 0; i < 60 && status.running; i++) {
      status = JSON.parse((await home.cli(['sandbox', 'status', '--format', 'json'])).stdout);
      if (status.running) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(status).toEqual({ running: false });
  });
});
