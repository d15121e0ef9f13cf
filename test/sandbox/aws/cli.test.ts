// The real AWS CLI (botocore) against the endpoint: the commands of the database access runbook
// and its troubleshooting section. botocore serializes and parses from its own service models, so
// these prove the emulation speaks the real protocols, not one SDK's dialect. Skipped, with a
// message, when `aws` is not installed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDS } from '../../../sandbox/aws/world.js';
import { switchScenario } from '../../helpers/scenario.js';
import { type AwsCli, awsCli, awsCliTitle, hasAwsCli } from './aws-cli.js';
import { DATABASE_URL, startTestEndpoint, type TestEndpoint } from './helpers.js';

let t: TestEndpoint;
let cli: AwsCli;
const aws = (...args: string[]) => cli.run(...args);
const awsJson = (...args: string[]) => cli.json(...args);
/** `services[0].enableExecuteCommand` of the Coder service. */
const execEnabled = () =>
  awsJson(
    'ecs',
    'describe-services',
    '--cluster',
    IDS.clusterName,
    '--services',
    IDS.serviceName,
    '--query',
    'services[0].enableExecuteCommand',
  );

describe.skipIf(!hasAwsCli)(awsCliTitle('AWS CLI'), () => {
  const taskArn = `arn:aws:ecs:us-east-1:123456789012:task/${IDS.clusterName}/${IDS.taskId}`;

  beforeAll(async () => {
    t = await startTestEndpoint();
    cli = awsCli(t.endpoint.url);
  });

  afterAll(async () => {
    await t?.endpoint.close();
    cli?.remove();
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
    const enabled = await execEnabled();
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
    try {
      await switchScenario(t.endpoint.url, 'secret-missing');
      const missing = await aws('secretsmanager', 'get-secret-value', '--secret-id', IDS.secretName);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('(ResourceNotFoundException)');
      await switchScenario(t.endpoint.url, 'exec-disabled');
      const enabled = await execEnabled();
      expect(enabled).toBe(false);
      const ghost = await aws('iam', 'get-role', '--role-name', 'ghost');
      expect(ghost.stderr).toContain('(NoSuchEntity)');
      const sg = await aws('ec2', 'describe-security-groups', '--group-ids', 'sg-00000000000000000');
      expect(sg.stderr).toContain('(InvalidGroup.NotFound)');
    } finally {
      await switchScenario(t.endpoint.url, 'healthy');
    }
  });
});
