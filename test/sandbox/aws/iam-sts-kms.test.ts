// IAM, STS and KMS through the real SDK v3 clients: the roles and policies as IAM returns them
// (URL-encoded documents), SimulatePrincipalPolicy decisions, caller identity and MFA session
// tokens, and the KMS data-key round trip shared with the agent side.

import { ECSClient, ExecuteCommandCommand } from '@aws-sdk/client-ecs';
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListRolePoliciesCommand,
  ListUserPoliciesCommand,
  SimulatePrincipalPolicyCommand,
} from '@aws-sdk/client-iam';
import { DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetCallerIdentityCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decryptDataKey } from '../../../sandbox/aws/server.js';
import { IDS } from '../../../sandbox/aws/world.js';
import { rejection, startTestEndpoint, type TestEndpoint } from './helpers.js';

let t: TestEndpoint;
let iam: IAMClient;
let sts: STSClient;
let kms: KMSClient;
let ecs: ECSClient;
const taskRoleArn = `arn:aws:iam::123456789012:role/${IDS.taskRoleName}`;
const userArn = 'arn:aws:iam::123456789012:user/operator';
const SSMMESSAGES = [
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
];

const decode = (doc: string | undefined) => JSON.parse(decodeURIComponent(doc ?? ''));

beforeAll(async () => {
  t = await startTestEndpoint();
  iam = new IAMClient(t.config);
  sts = new STSClient(t.config);
  kms = new KMSClient(t.config);
  ecs = new ECSClient(t.config);
});

afterAll(async () => {
  for (const c of [iam, sts, kms, ecs]) c?.destroy();
  await t?.endpoint.close();
});

afterEach(() => t.endpoint.setScenario('healthy'));

describe('IAM', () => {
  it('returns the task role with its trust policy URL-encoded', async () => {
    const { Role } = await iam.send(new GetRoleCommand({ RoleName: IDS.taskRoleName }));
    expect(Role?.Arn).toBe(taskRoleArn);
    expect(Role?.CreateDate).toBeInstanceOf(Date);
    expect(Role?.AssumeRolePolicyDocument).toMatch(/^%7B/);
    expect(decode(Role?.AssumeRolePolicyDocument).Statement[0].Principal.Service).toBe(
      'ecs-tasks.amazonaws.com',
    );
  });

  it('returns the ECSExecPolicy inline policy', async () => {
    expect((await iam.send(new ListRolePoliciesCommand({ RoleName: IDS.taskRoleName }))).PolicyNames).toEqual(
      ['ECSExecPolicy'],
    );
    const out = await iam.send(
      new GetRolePolicyCommand({ RoleName: IDS.taskRoleName, PolicyName: 'ECSExecPolicy' }),
    );
    expect(decode(out.PolicyDocument).Statement[0].Action).toEqual(SSMMESSAGES);
    const e = await rejection(
      iam.send(new GetRolePolicyCommand({ RoleName: IDS.taskRoleName, PolicyName: 'Nope' })),
    );
    expect(e.name).toBe('NoSuchEntityException');
    const r = await rejection(iam.send(new GetRoleCommand({ RoleName: 'ghost' })));
    expect(r.name).toBe('NoSuchEntityException');
    expect(r.$metadata?.httpStatusCode).toBe(404);
  });

  it('returns attached managed policies and their default version', async () => {
    const { AttachedPolicies } = await iam.send(
      new ListAttachedRolePoliciesCommand({ RoleName: IDS.taskRoleName }),
    );
    expect(AttachedPolicies).toEqual([
      {
        PolicyName: 'CoderTaskExecLogging',
        PolicyArn: 'arn:aws:iam::123456789012:policy/CoderTaskExecLogging',
      },
    ]);
    const PolicyArn = AttachedPolicies?.[0]?.PolicyArn;
    const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn }));
    expect(Policy).toMatchObject({
      PolicyName: 'CoderTaskExecLogging',
      DefaultVersionId: 'v1',
      AttachmentCount: 1,
    });
    const { PolicyVersion } = await iam.send(
      new GetPolicyVersionCommand({ PolicyArn, VersionId: Policy?.DefaultVersionId }),
    );
    expect(PolicyVersion?.IsDefaultVersion).toBe(true);
    expect(decode(PolicyVersion?.Document).Statement).toHaveLength(2);
  });

  it('returns the caller user policies (the fallback when simulation is denied)', async () => {
    const user = { UserName: 'operator' };
    expect((await iam.send(new GetUserCommand({}))).User?.Arn).toBe(userArn);
    expect((await iam.send(new ListUserPoliciesCommand(user))).PolicyNames).toEqual(['CoderDatabaseAccess']);
    const attached = await iam.send(new ListAttachedUserPoliciesCommand(user));
    expect(attached.AttachedPolicies?.[0]?.PolicyName).toBe('CoderOperatorReadOnly');
    const inline = await iam.send(new GetUserPolicyCommand({ ...user, PolicyName: 'CoderDatabaseAccess' }));
    expect(decode(inline.PolicyDocument).Statement.map((s: { Sid: string }) => s.Sid)).toContain('EcsExec');
  });

  it('simulates the task role: ssmmessages allowed, then implicitly denied when missing', async () => {
    const simulate = () =>
      iam.send(
        new SimulatePrincipalPolicyCommand({ PolicySourceArn: taskRoleArn, ActionNames: SSMMESSAGES }),
      );
    const ok = await simulate();
    expect(ok.EvaluationResults?.map((r) => r.EvalDecision)).toEqual([
      'allowed',
      'allowed',
      'allowed',
      'allowed',
    ]);
    expect(ok.EvaluationResults?.[0]?.MatchedStatements?.[0]).toMatchObject({
      SourcePolicyId: 'ECSExecPolicy',
      SourcePolicyType: 'role',
    });
    t.endpoint.setScenario('task-role-missing-ssmmessages');
    const missing = await simulate();
    expect(missing.EvaluationResults?.map((r) => r.EvalDecision)).toEqual(Array(4).fill('implicitDeny'));
  });

  it('simulates the caller per resource and reports explicit denies', async () => {
    const task = `arn:aws:ecs:us-east-1:123456789012:task/${IDS.clusterName}/${IDS.taskId}`;
    const simulate = () =>
      iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: userArn,
          ActionNames: ['ecs:ExecuteCommand', 'ssm:StartSession'],
          ResourceArns: [task],
        }),
      );
    const ok = await simulate();
    expect(ok.EvaluationResults?.map((r) => [r.EvalActionName, r.EvalResourceName, r.EvalDecision])).toEqual([
      ['ecs:ExecuteCommand', task, 'allowed'],
      ['ssm:StartSession', task, 'allowed'],
    ]);
    t.endpoint.world.caller.inlinePolicies.Guardrail = {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Deny', Action: 'ecs:Execute*', Resource: '*' }],
    };
    const denied = await simulate();
    expect(denied.EvaluationResults?.[0]?.EvalDecision).toBe('explicitDeny');
    expect(denied.EvaluationResults?.[0]?.MatchedStatements?.[0]?.SourcePolicyId).toBe('Guardrail');
    // The endpoint authorizes calls with the same evaluator.
    const e = await rejection(
      ecs.send(
        new ExecuteCommandCommand({
          cluster: IDS.clusterName,
          task: IDS.taskId,
          command: 'sh',
          interactive: true,
        }),
      ),
    );
    expect(e.name).toBe('AccessDeniedException');
    expect(e.message).toContain('with an explicit deny');
  });

  it('denies simulation in caller-cannot-simulate', async () => {
    t.endpoint.setScenario('caller-cannot-simulate');
    const e = await rejection(
      iam.send(
        new SimulatePrincipalPolicyCommand({ PolicySourceArn: taskRoleArn, ActionNames: SSMMESSAGES }),
      ),
    );
    expect(e.name).toBe('AccessDenied');
    expect(e.message).toContain('iam:SimulatePrincipalPolicy');
    expect(e.$metadata?.httpStatusCode).toBe(403);
    // Reading the policies still works.
    await iam.send(new GetRolePolicyCommand({ RoleName: IDS.taskRoleName, PolicyName: 'ECSExecPolicy' }));
  });
});

describe('STS', () => {
  it('identifies the operator', async () => {
    const out = await sts.send(new GetCallerIdentityCommand({}));
    expect(out).toMatchObject({ Account: '123456789012', Arn: userArn, UserId: 'AIDASANDBOXOPERATOR01' });
  });

  it('issues MFA session credentials that the endpoint accepts', async () => {
    const { Credentials } = await sts.send(
      new GetSessionTokenCommand({
        SerialNumber: 'arn:aws:iam::123456789012:mfa/operator',
        TokenCode: '123456',
        DurationSeconds: 3600,
      }),
    );
    expect(Credentials?.AccessKeyId).toMatch(/^ASIA/);
    expect(Credentials?.Expiration).toBeInstanceOf(Date);
    const temp = new STSClient({
      ...t.config,
      credentials: {
        accessKeyId: Credentials?.AccessKeyId ?? '',
        secretAccessKey: Credentials?.SecretAccessKey ?? '',
        sessionToken: Credentials?.SessionToken ?? '',
      },
    });
    try {
      expect((await temp.send(new GetCallerIdentityCommand({}))).Arn).toBe(userArn);
    } finally {
      temp.destroy();
    }
    const bad = await rejection(
      sts.send(
        new GetSessionTokenCommand({
          SerialNumber: 'arn:aws:iam::123456789012:mfa/operator',
          TokenCode: '000000',
        }),
      ),
    );
    expect(bad.name).toBe('AccessDenied');
  });
});

describe('KMS', () => {
  const context = {
    'aws:ssm:SessionId': 'ecs-execute-command-1',
    'aws:ssm:TargetId': 'ecs:coder-cluster_x_y',
  };

  it('describes the exec key by alias', async () => {
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: IDS.execKmsAlias }));
    expect(KeyMetadata).toMatchObject({
      KeyId: IDS.execKmsKeyId,
      KeyState: 'Enabled',
      KeyManager: 'CUSTOMER',
    });
    const e = await rejection(kms.send(new DescribeKeyCommand({ KeyId: 'alias/nope' })));
    expect(e.name).toBe('NotFoundException');
  });

  it('round-trips a data key via Decrypt and the agent helper; rejects another context', async () => {
    const key = await kms.send(
      new GenerateDataKeyCommand({ KeyId: IDS.execKmsAlias, NumberOfBytes: 64, EncryptionContext: context }),
    );
    expect(key.Plaintext).toHaveLength(64);
    expect(key.KeyId).toBe(`arn:aws:kms:us-east-1:123456789012:key/${IDS.execKmsKeyId}`);
    const blob = key.CiphertextBlob ?? new Uint8Array();
    const out = await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context }));
    expect(Buffer.from(out.Plaintext ?? [])).toEqual(Buffer.from(key.Plaintext ?? []));
    expect(out.KeyId).toBe(key.KeyId);
    expect(decryptDataKey(blob, { ...context })).toEqual(Buffer.from(key.Plaintext ?? []));
    const wrong = { ...context, 'aws:ssm:SessionId': 'other' };
    const e = await rejection(
      kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: wrong })),
    );
    expect(e.name).toBe('InvalidCiphertextException');
    expect(() => decryptDataKey(blob, wrong)).toThrow(/ciphertext/i);
    expect(() => decryptDataKey(blob, {})).toThrow();
    const incorrect = await rejection(
      kms.send(
        new DecryptCommand({
          CiphertextBlob: blob,
          EncryptionContext: context,
          KeyId: 'alias/aws/secretsmanager',
        }),
      ),
    );
    expect(incorrect.name).toBe('IncorrectKeyException');
  });

  it('validates the key size', async () => {
    const spec = await kms.send(new GenerateDataKeyCommand({ KeyId: IDS.execKmsKeyId, KeySpec: 'AES_256' }));
    expect(spec.Plaintext).toHaveLength(32);
    const both = await rejection(
      kms.send(
        new GenerateDataKeyCommand({ KeyId: IDS.execKmsKeyId, KeySpec: 'AES_128', NumberOfBytes: 16 }),
      ),
    );
    expect(both.name).toBe('ValidationException');
    const neither = await rejection(kms.send(new GenerateDataKeyCommand({ KeyId: IDS.execKmsKeyId })));
    expect(neither.name).toBe('ValidationException');
  });

  it('denies GenerateDataKey in kms-key-unusable', async () => {
    t.endpoint.setScenario('kms-key-unusable');
    const e = await rejection(
      kms.send(
        new GenerateDataKeyCommand({
          KeyId: IDS.execKmsAlias,
          NumberOfBytes: 64,
          EncryptionContext: context,
        }),
      ),
    );
    expect(e.name).toBe('AccessDeniedException');
    expect(e.message).toContain('kms:GenerateDataKey');
  });
});
