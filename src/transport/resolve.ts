// Where the direct transport connects: the URL from --url / CODERDB_URL / the profile, else the
// local environment variable named by the profile (CODER_PG_CONNECTION_URL), else the secret in
// Secrets Manager. With RDS IAM authentication the password is replaced by a token signed locally.

import { awsSettings } from '../aws/clients.js';
import { fromAwsError } from '../aws/errors.js';
import type { AwsSession } from '../aws/session.js';
import { originOf, type Profile } from '../core/config.js';
import { refusedError } from '../core/errors.js';
import { rememberSecret, Secret } from '../core/secret.js';
import { isLoopbackHost, type PgTarget, parsePgUrl } from './pg-url.js';

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
  if (profile.url) {
    const origin = originOf(profile, 'url');
    if (origin.startsWith('env ')) checkProductionEnvUrl(profile, profile.url, origin.slice(4));
    return { url: profile.url, source: origin.startsWith('env ') ? 'env' : 'flag' };
  }
  const fromEnv = env[profile.urlEnv];
  if (fromEnv) {
    const url = new Secret(fromEnv);
    checkProductionEnvUrl(profile, url, profile.urlEnv);
    return { url, source: 'env' };
  }
  aws.noteIdentity();
  const { fetchDatabaseUrl } = await import('../aws/database-secret.js');
  return { url: await fetchDatabaseUrl(aws, profile), source: 'secret' };
}

let announced = false;

/**
 * A URL in the environment is easy to leave behind (`eval "$(coderdb sandbox env)"` sets one), so a
 * production profile says when it takes one, and refuses one that points at this machine: that is
 * a sandbox or a tunnel, not production. `--url` on the command line is taken as meant.
 */
function checkProductionEnvUrl(profile: Profile, url: Secret, variable: string): void {
  if (!profile.production) return;
  let host: string | undefined;
  try {
    host = parsePgUrl(url).host;
  } catch {
    return; // The URL's own error comes when it is used.
  }
  if (isLoopbackHost(host)) {
    throw refusedError(
      'production.loopback-url',
      `profile "${profile.name}" is production, but its database URL comes from $${variable} and points at ${host} (a sandbox or a tunnel, not production)`,
      {
        hint: `unset ${variable} (after the sandbox: eval "$(coderdb sandbox env --unset)"), or give the URL with --url if you mean it`,
      },
    );
  }
  if (!announced) {
    announced = true;
    process.stderr.write(
      `coderdb: profile "${profile.name}" is production and takes its database URL from $${variable}\n`,
    );
  }
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
