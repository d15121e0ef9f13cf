// The real AWS CLI (botocore) against the endpoint: the commands of the database access runbook
// and its troubleshooting section. botocore serializes and parses from its own service models, so
// these prove the emulation speaks the real protocols, not one SDK's dialect. Skipped, with a
// message, when `aws` is not installed.

import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDS } from '../../../sandbox/aws/world.js';
import { CREDENTIALS, DATABASE_URL, startTestEndpoint, type TestEndpoint } from './helpers.js';

const probe = spawnSync('aws', ['--version'], { encoding: 'utf8', timeout: 30_000 });
const hasAws = probe.status === 0;
const title = hasAws ? 'AWS CLI' : 'AWS CLI (skipped: the `aws` command is not installed)';

let t: TestEndpoint;
let home: string;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function aws(...args: string[]): Promise<CliResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    AWS_CONFIG_FILE: join(home, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: t.endpoint.url,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_MAX_ATTEMPTS: '1',
  };
  for (const name of ['PYENV_ROOT', 'PYENV_VERSION', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return new Promise((resolve) => {
    // --endpoint-url as well as AWS_ENDPOINT_URL: CLI releases before 1.29/2.13 (Debian 12 ships
    // 2.9) ignore the variable, and v1 ignores it for `rds` in us-east-1.
    const endpoint = args.includes('--endpoint-url') ? [] : ['--endpoint-url', t.endpoint.url];
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
}

async function awsJson(...args: string[]): Promise<unknown> {
  const r = await aws(...args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe.skipIf(!hasAws)(title, () => {
  const taskArn = `arn:aws:ecs:us-east-1:123456789012:task/${IDS.clusterName}/${IDS.taskId}`;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'coderdb-aws-cli-'));
    t = await startTestEndpoint();
  });

  afterAll(async () => {
    await t?.endpoint.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('sts get-caller-identity', async () => {
    expect(await awsJson('sts', 'get-caller-identity')).toEqual({
      UserId: 'AIDASANDBOXOPERATOR01',
      Account: '123456789012',
      Arn: 'arn:aws:iam::123456789012:user/operator',
    });
  });

  it('ecs list-tasks, describe-tasks and describe-services', async () => {
    const listed = await awsJson(
      'ecs',
      'list-tasks',
      '--cluster',
      IDS.clusterName,
      '--service-name',
      IDS.serviceName,
      '--region',
      'us-east-1',
    );
    expect(listed).toEqual({ taskArns: [taskArn] });
    const described = (await awsJson(
      'ecs',
      'describe-tasks',
      '--cluster',
      IDS.clusterName,
      '--tasks',
      taskArn,
    )) as {
      tasks: {
        lastStatus: string;
        containers: { runtimeId: string; managedAgents: { lastStatus: string }[] }[];
      }[];
    };
    expect(described.tasks[0]?.lastStatus).toBe('RUNNING');
    expect(described.tasks[0]?.containers[0]?.runtimeId).toBe(IDS.runtimeId);
    expect(described.tasks[0]?.containers[0]?.managedAgents[0]?.lastStatus).toBe('RUNNING');
    const enabled = await awsJson(
      'ecs',
      'describe-services',
      '--cluster',
      IDS.clusterName,
      '--services',
      IDS.serviceName,
      '--query',
      'services[0].enableExecuteCommand',
    );
    expect(enabled).toBe(true);
  });

  it('rds describe-db-instances (status query)', async () => {
    // AWS CLI v1 ignores AWS_ENDPOINT_URL for `rds` in us-east-1 (its overridesslcommonname
    // customization pins rds.amazonaws.com), so this one command needs --endpoint-url.
    const status = await awsJson(
      'rds',
      'describe-db-instances',
      '--db-instance-identifier',
      IDS.dbInstanceIdentifier,
      '--region',
      'us-east-1',
      '--query',
      'DBInstances[0].DBInstanceStatus',
      '--endpoint-url',
      t.endpoint.url,
    );
    expect(status).toBe('available');
    const endpoint = await awsJson(
      'rds',
      'describe-db-instances',
      '--query',
      'DBInstances[0].[Endpoint.Address,Endpoint.Port,VpcSecurityGroups[0].VpcSecurityGroupId]',
      '--endpoint-url',
      t.endpoint.url,
    );
    expect(endpoint).toEqual(['127.0.0.1', 54329, IDS.rdsSecurityGroupId]);
  });

  it('ec2 describe-security-groups', async () => {
    const out = (await awsJson('ec2', 'describe-security-groups', '--group-ids', IDS.rdsSecurityGroupId)) as {
      SecurityGroups: {
        GroupId: string;
        IpPermissions: { FromPort: number; UserIdGroupPairs: { GroupId: string }[] }[];
      }[];
    };
    const sg = out.SecurityGroups[0];
    expect(sg?.GroupId).toBe(IDS.rdsSecurityGroupId);
    expect(sg?.IpPermissions[0]?.FromPort).toBe(54329);
    expect(sg?.IpPermissions[0]?.UserIdGroupPairs[0]?.GroupId).toBe(IDS.serviceSecurityGroupId);
  });

  it('iam get-role-policy, list-attached-role-policies and simulate-principal-policy', async () => {
    const policy = (await awsJson(
      'iam',
      'get-role-policy',
      '--role-name',
      IDS.taskRoleName,
      '--policy-name',
      'ECSExecPolicy',
    )) as { PolicyDocument: { Statement: { Action: string[] }[] } };
    // botocore URL-decodes and parses the document, as it does for real IAM.
    expect(policy.PolicyDocument.Statement[0]?.Action).toContain('ssmmessages:OpenDataChannel');
    expect(await awsJson('iam', 'list-attached-role-policies', '--role-name', IDS.taskRoleName)).toEqual({
      AttachedPolicies: [
        {
          PolicyName: 'CoderTaskExecLogging',
          PolicyArn: 'arn:aws:iam::123456789012:policy/CoderTaskExecLogging',
        },
      ],
    });
    const simulated = await awsJson(
      'iam',
      'simulate-principal-policy',
      '--policy-source-arn',
      `arn:aws:iam::123456789012:role/${IDS.taskRoleName}`,
      '--action-names',
      'ssmmessages:CreateControlChannel',
      's3:GetObject',
      '--query',
      'EvaluationResults[].EvalDecision',
    );
    expect(simulated).toEqual(['allowed', 'implicitDeny']);
  });

  it('secretsmanager get-secret-value', async () => {
    const out = (await awsJson('secretsmanager', 'get-secret-value', '--secret-id', IDS.secretName)) as {
      SecretString: string;
    };
    expect(out.SecretString).toBe(DATABASE_URL);
  });

  it('logs filter-log-events', async () => {
    const out = (await awsJson(
      'logs',
      'filter-log-events',
      '--log-group-name',
      '/ecs/coder',
      '--filter-pattern',
      'database',
    )) as {
      events: { message: string }[];
    };
    expect(out.events.length).toBeGreaterThan(0);
    expect(out.events.every((e) => e.message.includes('database'))).toBe(true);
  });

  it('kms describe-key', async () => {
    const out = (await awsJson('kms', 'describe-key', '--key-id', IDS.execKmsAlias)) as {
      KeyMetadata: { KeyId: string; KeyState: string };
    };
    expect(out.KeyMetadata).toMatchObject({ KeyId: IDS.execKmsKeyId, KeyState: 'Enabled' });
  });

  it('sees a scenario switched over /_sandbox/scenario, with the real error codes', async () => {
    const switchTo = (name: string) =>
      fetch(`${t.endpoint.url}/_sandbox/scenario`, { method: 'POST', body: JSON.stringify({ name }) });
    try {
      expect((await switchTo('secret-missing')).status).toBe(200);
      const missing = await aws('secretsmanager', 'get-secret-value', '--secret-id', IDS.secretName);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('(ResourceNotFoundException)');
      expect((await switchTo('exec-disabled')).status).toBe(200);
      const enabled = await awsJson(
        'ecs',
        'describe-services',
        '--cluster',
        IDS.clusterName,
        '--services',
        IDS.serviceName,
        '--query',
        'services[0].enableExecuteCommand',
      );
      expect(enabled).toBe(false);
      const ghost = await aws('iam', 'get-role', '--role-name', 'ghost');
      expect(ghost.stderr).toContain('(NoSuchEntity)');
      const sg = await aws('ec2', 'describe-security-groups', '--group-ids', 'sg-00000000000000000');
      expect(sg.stderr).toContain('(InvalidGroup.NotFound)');
    } finally {
      await switchTo('healthy');
    }
  });
});
