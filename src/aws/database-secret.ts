// The database URL kept in Secrets Manager: either a plain postgres:// URL (what Coder's
// CODER_PG_CONNECTION_URL holds) or the JSON an RDS-managed secret holds. The value is wrapped in a
// Secret as soon as it arrives and never appears in an error.

import type { Profile } from '../core/config.js';
import { type CoderdbError, connectionError, DOCTOR_HINT } from '../core/errors.js';
import { rememberSecret, Secret } from '../core/secret.js';
import { awsModule, awsSettings } from './clients.js';
import { fromAwsError } from './errors.js';
import type { AwsSession } from './session.js';

export interface RdsSecretJson {
  username: string;
  password: string;
  host: string;
  port?: number | string;
  dbname?: string;
  database?: string;
}

export async function fetchDatabaseUrl(aws: AwsSession, profile: Profile): Promise<Secret> {
  const { GetSecretValueCommand } = await awsModule('secrets');
  let value: string | undefined;
  try {
    const answer = await (await aws.secrets()).send(
      new GetSecretValueCommand({ SecretId: profile.secretId }),
    );
    value = answer.SecretString;
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') {
      throw connectionError(
        'secret.missing',
        `secret "${profile.secretId}" does not exist in ${awsSettings(profile).region}`,
        {
          hint: `check --secret-id and the region; ${DOCTOR_HINT}`,
        },
      );
    }
    throw fromAwsError(error, 'secretsmanager:GetSecretValue', profile.secretId);
  }
  if (!value) {
    throw connectionError('secret.empty', `secret "${profile.secretId}" has no string value`, {
      hint: DOCTOR_HINT,
    });
  }
  rememberSecret(value);
  return parseDatabaseSecret(value, profile.secretId);
}

/** A URL or RDS JSON secret as a postgres:// URL; throws without echoing the value. */
export function parseDatabaseSecret(value: string, secretId: string): Secret {
  const text = value.trim();
  if (/^postgres(ql)?:\/\//i.test(text)) return new Secret(text);
  let json: Partial<RdsSecretJson>;
  try {
    json = JSON.parse(text) as Partial<RdsSecretJson>;
  } catch {
    throw malformed(secretId);
  }
  if (
    typeof json !== 'object' ||
    json === null ||
    !json.host ||
    !json.username ||
    json.password === undefined
  ) {
    throw malformed(secretId);
  }
  rememberSecret(String(json.password));
  const url = new URL('postgresql://placeholder');
  url.hostname = json.host;
  url.port = String(json.port ?? 5432);
  url.username = encodeURIComponent(json.username);
  url.password = encodeURIComponent(String(json.password));
  url.pathname = `/${encodeURIComponent(json.dbname ?? json.database ?? 'postgres')}`;
  // RDS requires TLS; a database on this machine (the sandbox) usually has none.
  url.searchParams.set('sslmode', isLocal(json.host) ? 'prefer' : 'require');
  return new Secret(url.toString());
}

function isLocal(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}

function malformed(secretId: string): CoderdbError {
  return connectionError(
    'secret.malformed',
    `secret "${secretId}" is neither a postgres:// URL nor RDS JSON with host, username and password`,
    { hint: DOCTOR_HINT },
  );
}
