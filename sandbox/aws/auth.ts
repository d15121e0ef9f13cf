// Who is calling. Signatures are not verified (the secret key is a dummy), but like AWS the
// endpoint insists on a SigV4 Authorization header whose access key it knows: the sandbox key or
// temporary keys it issued through sts:GetSessionToken. The credential scope also names the
// service, which is how Query-protocol requests (all POSTed to `/`) are routed.

import type { RequestContext } from '../../src/aws/iam-policy.js';
import type { RuntimeState } from './services/types.js';

export const SANDBOX_ACCESS_KEY_ID = 'AKIASANDBOXEXAMPLE00';
export const SANDBOX_SECRET_ACCESS_KEY = 'sandbox-secret-key';

export interface SigV4Credential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ecs/aws4_request, …`. */
export function parseAuthorization(header: string | undefined): SigV4Credential | undefined {
  if (!header) return undefined;
  const m = /^AWS4-HMAC-SHA256\s+Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request/.exec(
    header,
  );
  if (!m) return undefined;
  return { accessKeyId: m[1]!, date: m[2]!, region: m[3]!, service: m[4]! };
}

/** The credential scope of a presigned request (`X-Amz-Credential` in the query string). */
export function parsePresigned(params: URLSearchParams): SigV4Credential | undefined {
  const value = params.get('X-Amz-Credential');
  return value ? parseAuthorization(`AWS4-HMAC-SHA256 Credential=${value}`) : undefined;
}

export type CredentialCheck = 'ok' | 'missing' | 'unknown' | 'expired';

export function checkCredential(
  credential: SigV4Credential | undefined,
  state: RuntimeState,
): CredentialCheck {
  if (!credential) return 'missing';
  if (credential.accessKeyId === SANDBOX_ACCESS_KEY_ID) return 'ok';
  const issued = state.issuedKeys.get(credential.accessKeyId);
  if (!issued) return 'unknown';
  return issued.expiresAt > Date.now() ? 'ok' : 'expired';
}

/**
 * The IAM condition keys a request signed with this key carries: temporary keys say whether they
 * were issued with MFA; long-term keys (the sandbox key) carry no `aws:MultiFactorAuthPresent`
 * at all, which is what `BoolIfExists` "deny unless MFA" policies test for.
 */
export function requestContext(accessKeyId: string, state: RuntimeState): RequestContext {
  const issued = state.issuedKeys.get(accessKeyId);
  return issued ? { 'aws:MultiFactorAuthPresent': issued.mfa ? 'true' : 'false' } : {};
}
