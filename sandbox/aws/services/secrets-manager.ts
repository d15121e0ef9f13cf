// AWS Secrets Manager (awsJson1_1, target prefix secretsmanager): GetSecretValue, DescribeSecret
// and ListSecrets over the world's secrets, found by name, full ARN or partial ARN (without the
// six-character suffix), as the real service resolves SecretId.

import { AwsError } from '../errors.js';
import type { JsonInput } from '../protocol/json-input.js';
import type { SecretEntry, World } from '../world.js';
import type { JsonService, ServiceContext } from './types.js';

const NOT_FOUND = "Secrets Manager can't find the specified secret.";

function findSecret(world: World, id: string): SecretEntry | undefined {
  return world.secrets.find((s) => s.name === id || s.arn === id || s.arn.slice(0, -7) === id);
}

function requireSecret(input: JsonInput, ctx: ServiceContext, action: string): SecretEntry {
  const id = input.requiredString('SecretId');
  const secret = findSecret(ctx.world, id);
  const resource =
    secret?.arn ??
    (id.startsWith('arn:')
      ? id
      : `arn:aws:secretsmanager:${ctx.world.region}:${ctx.world.account}:secret:${id}`);
  ctx.authorize(action, resource);
  if (!secret) throw new AwsError('ResourceNotFoundException', NOT_FOUND);
  return secret;
}

function getSecretValue(input: JsonInput, ctx: ServiceContext): unknown {
  const secret = requireSecret(input, ctx, 'secretsmanager:GetSecretValue');
  const versionId = input.string('VersionId');
  const stage = input.string('VersionStage');
  if (
    (versionId !== undefined && versionId !== secret.versionId) ||
    (stage !== undefined && stage !== 'AWSCURRENT')
  ) {
    throw new AwsError(
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret value for VersionId or VersionStage.",
    );
  }
  return {
    ARN: secret.arn,
    Name: secret.name,
    VersionId: secret.versionId,
    SecretString: secret.secretString,
    VersionStages: ['AWSCURRENT'],
    CreatedDate: new Date(secret.lastChangedAt),
  };
}

function describeShape(secret: SecretEntry): Record<string, unknown> {
  return {
    ARN: secret.arn,
    Name: secret.name,
    Description: secret.description,
    KmsKeyId: secret.kmsKeyId,
    RotationEnabled: false,
    LastChangedDate: new Date(secret.lastChangedAt),
    LastAccessedDate: new Date(secret.lastAccessedAt),
    Tags: [{ Key: 'Project', Value: 'coder' }],
    VersionIdsToStages: { [secret.versionId]: ['AWSCURRENT'] },
    CreatedDate: new Date(secret.createdAt),
  };
}

function describeSecret(input: JsonInput, ctx: ServiceContext): unknown {
  return describeShape(requireSecret(input, ctx, 'secretsmanager:DescribeSecret'));
}

function listSecrets(_input: JsonInput, ctx: ServiceContext): unknown {
  ctx.authorize('secretsmanager:ListSecrets');
  return {
    SecretList: ctx.world.secrets.map((s) => {
      const { VersionIdsToStages, ...rest } = describeShape(s);
      return { ...rest, SecretVersionsToStages: VersionIdsToStages };
    }),
  };
}

export const secretsManagerService: JsonService = {
  protocol: 'json',
  targetPrefix: 'secretsmanager',
  signingName: 'secretsmanager',
  invalidInputCode: 'InvalidParameterException',
  operations: {
    GetSecretValue: getSecretValue,
    DescribeSecret: describeSecret,
    ListSecrets: listSecrets,
  },
};
