// Where the direct transport connects: the URL from --url / CODERDB_URL / the profile, else the
// local environment variable named by the profile (CODER_PG_CONNECTION_URL), else the secret in
// Secrets Manager. With RDS IAM authentication the password is replaced by a token signed locally.

import { awsSettings } from '../aws/clients.js';
import { fromAwsError } from '../aws/errors.js';
import type { AwsSession } from '../aws/session.js';
import type { Profile } from '../core/config.js';
import { rememberSecret, Secret } from '../core/secret.js';
import { type PgTarget, parsePgUrl } from './pg-url.js';

export type UrlSource = 'flag' | 'env' | 'secret';

export interface ResolvedUrl {
  url: Secret;
  source: UrlSource;
}

export async function resolveDatabaseUrl(
  profile: Profile,
  aws: AwsSession,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResolvedUrl> {
  if (profile.url) return { url: profile.url, source: 'flag' };
  const fromEnv = env[profile.urlEnv];
  if (fromEnv) return { url: new Secret(fromEnv), source: 'env' };
  aws.noteIdentity();
  const { fetchDatabaseUrl } = await import('../aws/database-secret.js');
  return { url: await fetchDatabaseUrl(aws, profile), source: 'secret' };
}

export async function resolveDirectTarget(profile: Profile, aws: AwsSession): Promise<PgTarget> {
  const { url } = await resolveDatabaseUrl(profile, aws);
  const target = parsePgUrl(url);
  if (!profile.iamAuth) return target;
  return {
    ...target,
    password: await iamAuthToken(target, profile, aws),
    sslmode: strongerSsl(target.sslmode),
  };
}

/** Who a session connects as: the profile's own user, or the read-only reader role for reads. */
export type SessionRole = 'main' | 'reader';

/** Whether the profile names a reader role (for the direct and tunnel transports). */
export function hasReader(profile: Profile): boolean {
  return Boolean(profile.readerUrl || profile.readerSecretId || profile.readerIamUser);
}

/**
 * Where a reader session connects: `readerUrl`, else the URL in `readerSecretId`, else the main URL
 * with `readerIamUser` and an IAM token. With `iamAuth` a reader URL's password is a token too.
 * Without a reader in the profile, the main target.
 */
export async function resolveTarget(
  profile: Profile,
  aws: AwsSession,
  role: SessionRole = 'main',
): Promise<PgTarget> {
  if (role !== 'reader' || !hasReader(profile)) return resolveDirectTarget(profile, aws);
  if (!profile.readerUrl && !profile.readerSecretId) {
    const main = parsePgUrl((await resolveDatabaseUrl(profile, aws)).url);
    const reader = { ...main, user: profile.readerIamUser! };
    return {
      ...reader,
      password: await iamAuthToken(reader, profile, aws),
      sslmode: strongerSsl(main.sslmode),
    };
  }
  let url = profile.readerUrl;
  if (!url) {
    aws.noteIdentity();
    const { fetchDatabaseUrl } = await import('../aws/database-secret.js');
    url = await fetchDatabaseUrl(aws, { ...profile, secretId: profile.readerSecretId! });
  }
  const target = parsePgUrl(url);
  if (!profile.iamAuth) return target;
  return {
    ...target,
    password: await iamAuthToken(target, profile, aws),
    sslmode: strongerSsl(target.sslmode),
  };
}

/** RDS IAM authentication: a 15-minute token signed with the caller's credentials. */
export async function iamAuthToken(target: PgTarget, profile: Profile, aws: AwsSession): Promise<Secret> {
  aws.noteIdentity();
  const { Signer } = await import('@aws-sdk/rds-signer');
  const settings = awsSettings(profile);
  try {
    const token = await new Signer({
      hostname: target.host,
      port: target.port,
      username: target.user,
      region: settings.region,
      credentials: settings.credentials,
    }).getAuthToken();
    rememberSecret(token);
    return new Secret(token);
  } catch (error) {
    throw fromAwsError(error, 'rds-db:connect (IAM token)', target.host);
  }
}

/** IAM tokens are only accepted over TLS. */
function strongerSsl(mode: PgTarget['sslmode']): PgTarget['sslmode'] {
  return mode === 'verify-ca' || mode === 'verify-full' ? mode : 'require';
}
