// The exec transport where the deployment makes it harder: the official Coder image has no psql
// (the error says what to do; --install-client installs it with apk as the runbook does), and the
// cluster's ECS Exec configuration has a KMS key, so every session is encrypted end to end.

import { DescribeClustersCommand, ECSClient } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CREDENTIALS } from '../../src/core/sandbox-state.js';
import { json } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

type Row = Record<string, unknown>;

describe('exec transport: psql missing from the image, KMS-encrypted sessions', () => {
  let sandbox: TestSandbox;
  const exec = (...args: string[]) => sandbox.run(['--transport', 'exec', ...args], { timeoutMs: 120_000 });

  beforeAll(async () => {
    sandbox = await startSandbox({ scenario: 'psql-missing+kms-encrypted' });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('says psql is missing and how to get on, then --install-client installs it', async () => {
    const missing = await exec('query', 'select 1 as a', '--format', 'json');
    expect(missing.code).toBe(3);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/psql is not installed in the container \(task \w+, container coder\)/);
    expect(missing.stderr).toContain('--install-client');
    expect(missing.stderr).toContain('--transport tunnel');
    expect(missing.stderr).not.toMatch(/\n\s+at /);

    const installed = await exec('--install-client', 'query', 'select 1 as a', '--format', 'json');
    expect(installed.code, installed.stderr).toBe(0);
    expect(json(installed)).toEqual([{ a: 1 }]);
    // Like `apk add` in a real task, it stays installed until the task is replaced.
    expect(json(await exec('query', 'select 2 as b', '--format', 'json'))).toEqual([{ b: 2 }]);
  }, 240_000);

  it('runs reads and a planned, applied and undone write in encrypted sessions', async () => {
    const ecs = new ECSClient({
      region: sandbox.state.region,
      endpoint: sandbox.state.awsEndpoint!,
      credentials: SANDBOX_CREDENTIALS,
    });
    try {
      const answer = await ecs.send(
        new DescribeClustersCommand({ clusters: ['coder-cluster'], include: ['CONFIGURATIONS'] }),
      );
      expect(answer.clusters?.[0]?.configuration?.executeCommandConfiguration?.kmsKeyId).toBeTruthy();
    } finally {
      ecs.destroy();
    }
    const list = ['templates', 'list', '--all', '--format', 'json'];
    const before = json<Row[]>(await exec('--install-client', ...list));
    expect(before).toEqual(json<Row[]>(await sandbox.run(['--transport', 'direct', ...list])));

    const applied = await exec(
      'templates',
      'set-description',
      'docker',
      'Encrypted change',
      '--org',
      'coder',
      '--yes',
    );
    expect(applied.code, applied.stderr).toBe(0);
    const undoFile = /coderdb undo (\S+)/.exec(applied.stdout)![1]!;
    expect(json<Row[]>(await exec(...list)).some((row) => row.description === 'Encrypted change')).toBe(true);
    expect((await exec('undo', undoFile, '--yes')).code).toBe(0);
    expect(json<Row[]>(await exec(...list))).toEqual(before);
  }, 240_000);
});
