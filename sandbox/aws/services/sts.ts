// AWS STS (awsQuery, version 2011-06-15): GetCallerIdentity, which needs no permission, and
// GetSessionToken, which hands out temporary credentials (accepted by this endpoint afterwards)
// so an MFA flow can be exercised: credentials issued with a valid code sign requests that carry
// `aws:MultiFactorAuthPresent=true`. The MFA code `000000` is treated as wrong.

import { randomBytes } from 'node:crypto';
import { AwsError } from '../errors.js';
import type { QueryInput } from '../protocol/query.js';
import type { QueryService, ServiceContext } from './types.js';

function getCallerIdentity(_input: QueryInput, ctx: ServiceContext) {
  const { caller, account } = ctx.world;
  return { UserId: caller.id, Account: account, Arn: caller.arn };
}

function randomId(length: number, alphabet: string): string {
  const bytes = randomBytes(length);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

function getSessionToken(input: QueryInput, ctx: ServiceContext) {
  const duration = input.int('DurationSeconds') ?? 43_200;
  if (duration < 900 || duration > 129_600) {
    throw new AwsError(
      'ValidationError',
      `Value '${duration}' at 'durationSeconds' failed to satisfy constraint.`,
    );
  }
  const serial = input.string('SerialNumber');
  const code = input.string('TokenCode');
  if (code !== undefined && serial === undefined) {
    throw new AwsError('ValidationError', 'SerialNumber is required when TokenCode is given.');
  }
  if (serial !== undefined && (code === undefined || !/^\d{6}$/.test(code) || code === '000000')) {
    throw new AwsError(
      'AccessDenied',
      'MultiFactorAuthentication failed with invalid MFA one time pass code. ',
      403,
    );
  }
  const accessKeyId = `ASIASANDBOX${randomId(9, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`;
  const secretAccessKey = randomId(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
  const sessionToken = `IQoJb3JpZ2luX2VjE${randomBytes(96).toString('base64')}`;
  const expiresAt = Date.now() + duration * 1000;
  ctx.state.issuedKeys.set(accessKeyId, {
    secretAccessKey,
    sessionToken,
    expiresAt,
    mfa: serial !== undefined,
  });
  return {
    Credentials: {
      AccessKeyId: accessKeyId,
      SecretAccessKey: secretAccessKey,
      SessionToken: sessionToken,
      Expiration: new Date(expiresAt),
    },
  };
}

export const stsService: QueryService = {
  protocol: 'query',
  signingName: 'sts',
  version: '2011-06-15',
  xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
  missingParameterCode: 'MissingParameter',
  operations: {
    GetCallerIdentity: getCallerIdentity,
    GetSessionToken: getSessionToken,
  },
};
