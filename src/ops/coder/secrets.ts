// Columns that hold credentials in Coder's schema (and their generic look-alikes). coderdb never
// prints their values unless --show-secrets is given; the check is by column name so that it works
// the same over every transport, including psql in the task, which does not report column origins.

const SECRET_COLUMNS = new Set([
  'hashed_password',
  'hashed_secret',
  'hashed_one_time_passcode',
  'one_time_passcode',
  'oauth_access_token',
  'oauth_refresh_token',
  'oauth_id_token',
  'auth_token',
  'private_key',
  'secret',
  'secret_prefix',
  'token',
  'token_hashed',
  'hashed_token',
  'api_key',
  'refresh_hash',
  'app_secret_hash',
  'session_token',
  'password',
  'client_secret',
  'jwt',
  'signing_key',
  // Terraform state: holds the coder_agent token and any resource attribute, sensitive or not.
  'provisioner_state',
]);

const SECRET_PATTERN = /(^|_)(password|passwd|secret|token|private_key|passcode)(_|$)/;
/** Labels and metadata about a secret (token_name, oauth_expiry, secret_key_id) are not secrets. */
const METADATA_SUFFIX = /_(name|id|at|type|count|expiry|length|scopes?|lifetime)$/;

export function isSecretColumn(name: string): boolean {
  const lower = name.toLowerCase();
  if (SECRET_COLUMNS.has(lower)) return true;
  return SECRET_PATTERN.test(lower) && !METADATA_SUFFIX.test(lower);
}

export const REDACTED_VALUE = '[redacted]';

/**
 * Coder keeps some keys as rows of site_configs (key, value): app_signing_key, oauth_signing_key,
 * coordinator_resume_token_signing_key, derp_mesh_key, webpush_vapid_private_key.
 */
export const KEY_VALUE_TABLE = 'site_configs';
const SECRET_SETTING = /(signing_key|mesh_key|private_key|secret|password|passcode|token)/;

/** Whether a key/value row's key names a secret, so that its value is one. */
export function isSecretSetting(key: string): boolean {
  return SECRET_SETTING.test(key.toLowerCase());
}
