// The real AWS CLI (botocore) against the endpoint, for the calls behind `coderdb doctor` that
// cli.test.ts does not make: the cluster's exec configuration, the task definition, the VPC's
// route to Session Manager, the log search doctor runs (FilterLogEvents: AWS CLI v1 has no
// `logs tail`), MFA devices and an MFA session token, and a simulation with ContextEntries.
// Skipped, with a message, when `aws` is not installed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IDS } from '../../../sandbox/aws/world.js';
import { DATABASE_FILTER } from '../../../src/ops/doctor/checks/logs.js';
import { inScenario } from '../../helpers/scenario.js';
import { type AwsCli, awsCli, awsCliTitle, hasAwsCli } from './aws-cli.js';
import { startTestEndpoint, type TestEndpoint } from './helpers.js';

let t: TestEndpoint;
let cli: AwsCli;
const awsJson = (...args: string[]) => cli.json(...args);

describe.skipIf(!hasAwsCli)(awsCliTitle('AWS CLI for doctor'), () => {
  beforeAll(async () => {
    t = await startTestEndpoint();
    cli = awsCli(t.endpoint.url);
  });

  afterAll(async () => {
    await t?.endpoint.close();
    cli?.remove();
  });

  it('ecs describe-clusters --include CONFIGURATIONS and describe-task-definition', async () => {
    const config = await awsJson(
      'ecs',
      'describe-clusters',
      '--clusters',
      IDS.clusterName,
      '--include',
      'CONFIGURATIONS',
      '--query',
      'clusters[0].configuration.executeCommandConfiguration',
    );
    expect(config).toEqual({
      logging: 'OVERRIDE',
      logConfiguration: { cloudWatchLogGroupName: IDS.execLogGroupName, cloudWatchEncryptionEnabled: false },
    });
    const td = await awsJson(
      'ecs',
      'describe-task-definition',
      '--task-definition',
      `${IDS.taskDefinitionFamily}:${IDS.taskDefinitionRevision}`,
      '--query',
      'taskDefinition.[taskRoleArn,containerDefinitions[0].readonlyRootFilesystem,containerDefinitions[0].linuxParameters.initProcessEnabled]',
    );
    expect(td).toEqual([`arn:aws:iam::123456789012:role/${IDS.taskRoleName}`, false, true]);
  });

  it('ec2 describe-route-tables and describe-vpc-endpoints (the route to Session Manager)', async () => {
    const routes = (await awsJson(
      'ec2',
      'describe-route-tables',
      '--filters',
      `Name=association.subnet-id,Values=${IDS.privateSubnetA}`,
      '--query',
      "RouteTables[0].Routes[?DestinationCidrBlock=='0.0.0.0/0'].NatGatewayId",
    )) as string[];
    expect(routes).toEqual([IDS.natGatewayId]);
    const endpoints = await awsJson(
      'ec2',
      'describe-vpc-endpoints',
      '--filters',
      `Name=vpc-id,Values=${IDS.vpcId}`,
      '--query',
      'VpcEndpoints[].ServiceName',
    );
    expect(endpoints).toEqual(['com.amazonaws.us-east-1.s3']);
  });

  it("logs filter-log-events with doctor's filter pattern over the last hour", async () => {
    await inScenario(t.endpoint.url, 'db-errors-in-logs', async () => {
      const out = (await awsJson(
        'logs',
        'filter-log-events',
        '--log-group-name',
        IDS.logGroupName,
        '--start-time',
        String(Date.now() - 60 * 60_000),
        '--filter-pattern',
        DATABASE_FILTER,
      )) as { events: { message: string }[] };
      const errors = out.events.filter((e) => /erro|warn/.test(e.message));
      expect(errors).toHaveLength(5);
      expect(errors.at(-1)?.message).toContain('failed to acquire database connection');
    });
  });

  it('iam list-mfa-devices, sts get-session-token with MFA, and simulate-principal-policy --context-entries', async () => {
    const devices = await awsJson('iam', 'list-mfa-devices', '--query', 'MFADevices[].SerialNumber');
    expect(devices).toEqual([`arn:aws:iam::123456789012:mfa/${IDS.callerUserName}`]);
    const token = (await awsJson(
      'sts',
      'get-session-token',
      '--serial-number',
      `arn:aws:iam::123456789012:mfa/${IDS.callerUserName}`,
      '--token-code',
      '123456',
    )) as { Credentials: { AccessKeyId: string } };
    expect(token.Credentials.AccessKeyId).toMatch(/^ASIA/);
    const decision = await awsJson(
      'iam',
      'simulate-principal-policy',
      '--policy-source-arn',
      'arn:aws:iam::123456789012:user/operator',
      '--action-names',
      'ecs:DescribeClusters',
      '--context-entries',
      'ContextKeyName=aws:MultiFactorAuthPresent,ContextKeyValues=true,ContextKeyType=boolean',
      '--query',
      'EvaluationResults[0].EvalDecision',
    );
    expect(decision).toBe('allowed');
  });
});
