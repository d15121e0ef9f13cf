// AWS SDK errors as one-line CoderdbErrors naming the API call, with the fix when it is a
// permission or credential problem.

import { CoderdbError, connectionError, DOCTOR_HINT } from '../core/errors.js';
import { scrub } from '../core/secret.js';

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  code?: string;
}

export function fromAwsError(error: unknown, call: string, context = ''): CoderdbError {
  if (error instanceof CoderdbError) return error;
  const err = error as SdkError;
  const name = err.name ?? 'Error';
  const message = scrub(err.message ?? String(error));
  const where = context ? ` (${context})` : '';
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized/i.test(name)) {
    return connectionError('aws.access-denied', `${call} was denied${where}: ${message}`, {
      hint: `the caller needs ${call} permission; ${DOCTOR_HINT}`,
    });
  }
  if (
    /ExpiredToken|InvalidClientTokenId|UnrecognizedClient|SignatureDoesNotMatch|CredentialsProvider/i.test(
      name,
    )
  ) {
    return connectionError('aws.credentials', `${call} rejected the AWS credentials${where}: ${message}`, {
      hint: 'refresh them (aws sso login, or new session credentials)',
    });
  }
  if (
    err.code === 'ECONNREFUSED' ||
    err.code === 'ENOTFOUND' ||
    /ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(message)
  ) {
    return connectionError('aws.unreachable', `cannot reach AWS for ${call}${where}: ${message}`, {
      hint: 'check the network, the region and any endpoint override',
    });
  }
  return connectionError(`aws.${name}`, `${call} failed${where}: ${name}: ${message}`, { hint: DOCTOR_HINT });
}
