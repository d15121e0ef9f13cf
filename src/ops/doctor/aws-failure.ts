// AWS API failures as doctor findings with a concrete fix: the IAM statement to add for a denied
// call, the refresh command for rejected credentials, the network for an unreachable endpoint.

import { isCoderdbError } from '../../core/errors.js';
import { scrub } from '../../core/secret.js';
import { CheckFailure } from './types.js';

/** An AWS call that failed, with what kind of failure it was. */
export class AwsCallFailure extends CheckFailure {
  constructor(
    code: string,
    finding: string,
    fix: string | null,
    readonly action: string,
    readonly awsName: string,
    readonly explicitDeny: boolean,
    details: string[] = [],
  ) {
    super(code, finding, fix, details);
  }

  get denied(): boolean {
    return this.code === 'doctor.access-denied';
  }
}

interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
}

export function awsCallFailure(
  error: unknown,
  action: string,
  resource: string,
  callerArn: string | undefined,
): CheckFailure {
  if (error instanceof CheckFailure) return error;
  if (isCoderdbError(error)) {
    // The credential provider's own errors (no credentials, MFA without a terminal).
    return new AwsCallFailure(error.code, error.message, error.hint ?? null, action, error.code, false);
  }
  const err = error as SdkError;
  const name = err.name ?? err.Code ?? 'Error';
  const message = scrub(err.message ?? String(error));
  const on = resource === '*' ? '' : ` on ${resource}`;
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized|AuthorizationError|Forbidden/i.test(name)) {
    const explicit = /explicit deny/i.test(message);
    const who = callerArn ? ` ${callerArn}` : '';
    return new AwsCallFailure(
      'doctor.access-denied',
      `${action}${on} was denied to the caller${who}${explicit ? ' by an explicit Deny' : ''}`,
      explicit
        ? `an explicit Deny in the caller's policies (or an SCP) blocks ${action}; remove it, or run as a principal it does not apply to`
        : `allow it to the caller${who}:\n${iamStatement([action], [resource])}`,
      action,
      name,
      explicit,
      [message],
    );
  }
  if (
    /ExpiredToken|InvalidClientTokenId|UnrecognizedClient|SignatureDoesNotMatch|InvalidAccessKeyId|AuthFailure|RequestExpired|CredentialsProvider/i.test(
      name,
    )
  ) {
    return new AwsCallFailure(
      'doctor.credentials',
      `AWS rejected the credentials for ${action}: ${message}`,
      'refresh them: aws sso login, or new session credentials (aws sts get-session-token), or --aws-profile',
      action,
      name,
      false,
    );
  }
  if (/AbortError|TimeoutError/.test(name)) {
    return new AwsCallFailure(
      'doctor.aborted',
      `${action} did not answer in time`,
      'check the network path to AWS, then run again',
      action,
      name,
      false,
    );
  }
  if (
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|socket hang up/i.test(
      `${err.code ?? ''} ${message}`,
    )
  ) {
    return new AwsCallFailure(
      'doctor.unreachable',
      `cannot reach AWS for ${action}: ${message}`,
      'check the network, the region and any endpoint override (CODERDB_AWS_ENDPOINT)',
      action,
      name,
      false,
    );
  }
  return new AwsCallFailure(
    `doctor.aws.${name}`,
    `${action}${on} failed: ${name}: ${message}`,
    null,
    action,
    name,
    false,
  );
}

/** An IAM policy statement to paste into a policy, pretty-printed. */
export function iamStatement(actions: readonly string[], resources: readonly string[]): string {
  const statement = {
    Effect: 'Allow',
    Action: actions.length === 1 ? actions[0] : actions,
    Resource: resources.length === 1 ? resources[0] : resources,
  };
  return JSON.stringify(statement, null, 2);
}

/** Quotes a value for a POSIX shell command line when it needs quoting. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:@=,+-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}
