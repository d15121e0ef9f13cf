// What `coderdb doctor` added to the emulated AWS side, through the real SDK v3 clients: MFA
// devices, IAM conditions on aws:MultiFactorAuthPresent (the "deny unless MFA" policy of the
// mfa-required scenario, and SimulatePrincipalPolicy's ContextEntries), and the scenarios
// pid-mode-task and secret-endpoint-mismatch.

import { DescribeClustersCommand, DescribeTaskDefinitionCommand, ECSClient } from '@aws-sdk/client-ecs';
import { IAMClient, ListMFADevicesCommand, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, type SourcePolicy } from '../../../sandbox/aws/iam-policy.js';
import { IDS } from '../../../sandbox/aws/world.js';
import { DATABASE_URL, rejection, startTestEndpoint, type TestEndpoint } from './helpers.js';

let t: TestEndpoint;
let iam: IAMClient;
let sts: STSClient;
let ecs: ECSClient;
const userArn = 'arn:aws:iam::123456789012:user/operator';
const serial = 'arn:aws:iam::123456789012:mfa/operator';
const clusterArn = 'arn:aws:ecs:us-east-1:123456789012:cluster/coder-cluster';

beforeAll(async () => {
  t = await startTestEndpoint();
  iam = new IAMClient(t.config);
  sts = new STSClient(t.config);
  ecs = new ECSClient(t.config);
});

afterAll(async () => {
  for (const c of [iam, sts, ecs]) c?.destroy();
  await t?.endpoint.close();
});

afterEach(() => t.endpoint.setScenario('healthy'));

describe('MFA', () => {
  it('lists the operator MFA device', async () => {
    const { MFADevices } = await iam.send(new ListMFADevicesCommand({ UserName: IDS.callerUserName }));
    expect(MFADevices?.map((d) => [d.UserName, d.SerialNumber])).toEqual([[IDS.callerUserName, serial]]);
    expect(MFADevices?.[0]?.EnableDate).toBeInstanceOf(Date);
  });

  it('denies long-term keys and MFA-less session keys in mfa-required, and admits MFA session keys', async () => {
    t.endpoint.setScenario('mfa-required');
    // GetCallerIdentity needs no permission, in AWS as here.
    expect((await sts.send(new GetCallerIdentityCommand({}))).Arn).toBe(userArn);
    const denied = await rejection(ecs.send(new DescribeClustersCommand({ clusters: [IDS.clusterName] })));
    expect(denied.name).toBe('AccessDeniedException');
    expect(denied.message).toContain('with an explicit deny');
    // Listing MFA devices stays allowed, so a user can set one up.
    expect((await iam.send(new ListMFADevicesCommand({}))).MFADevices).toHaveLength(1);

    const withoutMfa = await sts.send(new GetSessionTokenCommand({ DurationSeconds: 900 }));
    const withMfa = await sts.send(
      new GetSessionTokenCommand({ DurationSeconds: 900, SerialNumber: serial, TokenCode: '123456' }),
    );
    const clientWith = (c: typeof withMfa.Credentials) =>
      new ECSClient({
        ...t.config,
        credentials: {
          accessKeyId: c?.AccessKeyId ?? '',
          secretAccessKey: c?.SecretAccessKey ?? '',
          sessionToken: c?.SessionToken ?? '',
        },
      });
    const plain = clientWith(withoutMfa.Credentials);
    const mfa = clientWith(withMfa.Credentials);
    try {
      const stillDenied = await rejection(
        plain.send(new DescribeClustersCommand({ clusters: [IDS.clusterName] })),
      );
      expect(stillDenied.name).toBe('AccessDeniedException');
      const described = await mfa.send(new DescribeClustersCommand({ clusters: [IDS.clusterName] }));
      expect(described.clusters?.[0]?.clusterName).toBe(IDS.clusterName);
    } finally {
      plain.destroy();
      mfa.destroy();
    }
  });

  it('simulates with ContextEntries', async () => {
    t.endpoint.setScenario('mfa-required');
    const simulate = async (present?: string) =>
      (
        await iam.send(
          new SimulatePrincipalPolicyCommand({
            PolicySourceArn: userArn,
            ActionNames: ['ecs:DescribeClusters'],
            ResourceArns: [clusterArn],
            ...(present === undefined
              ? {}
              : {
                  ContextEntries: [
                    {
                      ContextKeyName: 'aws:MultiFactorAuthPresent',
                      ContextKeyValues: [present],
                      ContextKeyType: 'boolean',
                    },
                  ],
                }),
          }),
        )
      ).EvaluationResults?.[0]?.EvalDecision;
    // Simulation is itself denied without MFA: ask with MFA session credentials.
    const creds = (await sts.send(new GetSessionTokenCommand({ SerialNumber: serial, TokenCode: '654321' })))
      .Credentials;
    const mfaIam = new IAMClient({
      ...t.config,
      credentials: {
        accessKeyId: creds?.AccessKeyId ?? '',
        secretAccessKey: creds?.SecretAccessKey ?? '',
        sessionToken: creds?.SessionToken ?? '',
      },
    });
    const original = iam;
    iam = mfaIam;
    try {
      expect(await simulate('true')).toBe('allowed');
      expect(await simulate('false')).toBe('explicitDeny');
      // Absent, as for long-term keys: BoolIfExists matches, so the deny applies.
      expect(await simulate()).toBe('explicitDeny');
    } finally {
      iam = original;
      mfaIam.destroy();
    }
    const denied = await rejection(
      iam.send(
        new SimulatePrincipalPolicyCommand({ PolicySourceArn: userArn, ActionNames: ['ecs:ListTasks'] }),
      ),
    );
    expect(denied.name).toBe('AccessDenied');
  });

  it('evaluates Bool, BoolIfExists and StringEquals conditions, and no others', () => {
    const policies: SourcePolicy[] = [
      {
        id: 'P',
        type: 'user',
        document: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'a:One',
              Resource: '*',
              Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'true' } },
            },
            {
              Effect: 'Allow' as const,
              Action: 'a:Two',
              Resource: '*',
              Condition: { StringEquals: { 'aws:RequestedRegion': ['us-east-1', 'eu-west-1'] } },
            },
            {
              Effect: 'Allow' as const,
              Action: 'a:Three',
              Resource: '*',
              Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } },
            },
          ],
        },
      },
    ];
    expect(evaluate(policies, 'a:One', '*', { 'aws:MultiFactorAuthPresent': 'TRUE' }).decision).toBe(
      'allowed',
    );
    expect(evaluate(policies, 'a:One', '*', {}).decision).toBe('implicitDeny');
    expect(evaluate(policies, 'a:Two', '*', { 'aws:RequestedRegion': 'eu-west-1' }).decision).toBe('allowed');
    expect(evaluate(policies, 'a:Two', '*', { 'aws:RequestedRegion': 'us-west-2' }).decision).toBe(
      'implicitDeny',
    );
    expect(evaluate(policies, 'a:Three', '*', { 'aws:SourceIp': '10.1.2.3' }).decision).toBe('implicitDeny');
  });
});

describe('scenarios for doctor', () => {
  it('pid-mode-task sets pidMode on the task definition', async () => {
    t.endpoint.setScenario('pid-mode-task');
    const { taskDefinition } = await ecs.send(
      new DescribeTaskDefinitionCommand({
        taskDefinition: `${IDS.taskDefinitionFamily}:${IDS.taskDefinitionRevision}`,
      }),
    );
    expect(taskDefinition?.pidMode).toBe('task');
    t.endpoint.setScenario('healthy');
    const healthy = await ecs.send(
      new DescribeTaskDefinitionCommand({ taskDefinition: IDS.taskDefinitionFamily }),
    );
    expect(healthy.taskDefinition?.pidMode).toBeUndefined();
  });

  it("secret-endpoint-mismatch points the secret away from the instance's endpoint", async () => {
    t.endpoint.setScenario('secret-endpoint-mismatch');
    const secrets = new SecretsManagerClient(t.config);
    try {
      const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: IDS.secretName }));
      const url = new URL(SecretString ?? '');
      const sandbox = new URL(DATABASE_URL);
      expect(url.hostname).toBe('coder-postgres.cunxsqwqr7rg.us-east-1.rds.amazonaws.com');
      expect(Number(url.port)).toBe(Number(sandbox.port) + 1);
      expect(decodeURIComponent(url.password)).toBe(decodeURIComponent(sandbox.password));
    } finally {
      secrets.destroy();
    }
  });
});
