// AWS STS (awsQuery, version 2011-06-15): GetCallerIdentity, which needs no permission, and
// GetSessionToken and AssumeRole, which hand out temporary credentials (accepted by this endpoint
// afterwards) so MFA flows can be exercised — the SDK's `mfa_serial` + `role_arn` profiles call
// AssumeRole with the code: credentials issued with a valid code sign requests that carry
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

function duration(input: QueryInput, fallback: number, max: number): number {
  const seconds = input.int('DurationSeconds') ?? fallback;
  if (seconds < 900 || seconds > max) {
    throw new AwsError(
      'ValidationError',
      `Value '${seconds}' at 'durationSeconds' failed to satisfy constraint.`,
    );
  }
  return seconds;
}

/** Checks SerialNumber/TokenCode; true when a valid MFA code was given. */
function mfaCode(input: QueryInput): boolean {
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
  return serial !== undefined;
}

function issueCredentials(ctx: ServiceContext, seconds: number, mfa: boolean) {
  const accessKeyId = `ASIASANDBOX${randomId(9, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`;
  const secretAccessKey = randomId(40, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
  const sessionToken = `IQoJb3JpZ2luX2VjE${randomBytes(96).toString('base64')}`;
  const expiresAt = Date.now() + seconds * 1000;
  ctx.state.issuedKeys.set(accessKeyId, { secretAccessKey, sessionToken, expiresAt, mfa });
  return {
    AccessKeyId: accessKeyId,
    SecretAccessKey: secretAccessKey,
    SessionToken: sessionToken,
    Expiration: new Date(expiresAt),
  };
}

function getSessionToken(input: QueryInput, ctx: ServiceContext) {
  const seconds = duration(input, 43_200, 129_600);
  return { Credentials: issueCredentials(ctx, seconds, mfaCode(input)) };
}

/** Any role of the account may be assumed; the sandbox does not model trust policies. */
function assumeRole(input: QueryInput, ctx: ServiceContext) {
  const roleArn = input.string('RoleArn');
  const sessionName = input.string('RoleSessionName');
  if (!roleArn || !sessionName)
    throw new AwsError('ValidationError', 'RoleArn and RoleSessionName are required.');
  const role = /^arn:aws:iam::(\d{12}):role\/(.+)$/.exec(roleArn);
  if (!role || role[1] !== ctx.world.account) {
    throw new AwsError('AccessDenied', `Not authorized to perform sts:AssumeRole on ${roleArn}`, 403);
  }
  const seconds = duration(input, 3600, 43_200);
  const credentials = issueCredentials(ctx, seconds, mfaCode(input));
  const roleName = role[2]!.split('/').at(-1)!;
  return {
    Credentials: credentials,
    AssumedRoleUser: {
      AssumedRoleId: `AROASANDBOX${randomId(9, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}:${sessionName}`,
      Arn: `arn:aws:sts::${ctx.world.account}:assumed-role/${roleName}/${sessionName}`,
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
    AssumeRole: assumeRole,
  },
};
