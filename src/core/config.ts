// Profiles and the effective configuration. Precedence, lowest first: the runbook's defaults, the
// profile from the config file, CODERDB_* environment variables, command-line flags. The built-in
// `sandbox` profile points at a running `coderdb sandbox`.

import { CONFIG_LIMIT, decodeUtf8, readFileBounded } from './bounded-read.js';
import { CoderdbError, usageError } from './errors.js';
import { paths } from './paths.js';
import { readSandboxState } from './sandbox-state.js';
import { redactUrl, Secret } from './secret.js';

export const TRANSPORTS = ['direct', 'exec', 'tunnel', 'auto'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

export interface Profile {
  /** Name of the profile these values came from. */
  name: string;
  region: string;
  cluster: string;
  service: string;
  container: string;
  /** Environment variable holding the database URL, in the container and locally. */
  urlEnv: string;
  secretId: string;
  rdsInstance: string;
  securityGroup: string;
  logGroup: string;
  transport: TransportName;
  /** A database URL given explicitly (flag, env or profile); wins over the secret. */
  url?: Secret;
  /** Named AWS profile (~/.aws/config) for credentials; the SDK default chain otherwise. */
  awsProfile?: string;
  /** AWS endpoint override (the sandbox, or a private endpoint). */
  awsEndpoint?: string;
  /** Use RDS IAM authentication (a signed token instead of the password). */
  iamAuth: boolean;
  /** Exec transport: install psql in the container with apk when it is missing. */
  installClient: boolean;
  /** Task to use instead of discovering one (ARN or id). */
  task?: string;
  /** Marks a production database: restore refuses it without --force. */
  production: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** statement_timeout and lock_timeout of every read session; 0 for none. */
  readStatementTimeoutMs: number;
  readLockTimeoutMs: number;
  /**
   * The reader role: every read session connects as this read-only database role instead, so that
   * PostgreSQL itself refuses any write a read might carry. A URL, a secret holding one, a user for
   * RDS IAM authentication (same host and database as the main URL), and, for the exec transport,
   * the container's environment variable holding the reader's URL.
   */
  readerUrl?: Secret;
  readerSecretId?: string;
  readerIamUser?: string;
  readerUrlEnv?: string;
  /**
   * CloudWatch Logs group that receives a copy of every audit record (one stream per user@host),
   * the shared trail a team can trust; the local file is written as well.
   */
  auditLogGroup?: string;
  /** With auditLogGroup: nothing runs or commits unless the group accepted its audit record. */
  auditRequired: boolean;
  /** Where each value that is not a default came from (for `config show` and safety checks). */
  origins?: Partial<Record<ProfileField, ValueOrigin>>;
}

/** `profile` is the config file; `env NAME` and `flag` what this invocation was given. */
export type ValueOrigin = 'default' | 'profile' | 'sandbox' | `env ${string}` | 'flag';

export const DEFAULTS: Omit<Profile, 'name'> = {
  region: 'us-east-1',
  cluster: 'coder-cluster',
  service: 'coder-service',
  container: 'coder',
  urlEnv: 'CODER_PG_CONNECTION_URL',
  secretId: 'coder-postgres-url',
  rdsInstance: 'coder-postgres',
  securityGroup: 'sg-0b2b0521f178fdb73',
  logGroup: '/ecs/coder',
  // auto: direct when a URL is given, else a tunnel through the task, else exec (src/transport/auto.ts).
  transport: 'auto',
  iamAuth: false,
  installClient: false,
  production: false,
  statementTimeoutMs: 30_000,
  lockTimeoutMs: 5_000,
  readStatementTimeoutMs: 300_000,
  readLockTimeoutMs: 5_000,
  auditRequired: false,
};

/** Profile keys as they are spelled in the config file, with the env variable that overrides each. */
const FIELDS = {
  region: 'CODERDB_REGION',
  cluster: 'CODERDB_CLUSTER',
  service: 'CODERDB_SERVICE',
  container: 'CODERDB_CONTAINER',
  urlEnv: 'CODERDB_URL_ENV',
  secretId: 'CODERDB_SECRET_ID',
  rdsInstance: 'CODERDB_RDS_INSTANCE',
  securityGroup: 'CODERDB_SECURITY_GROUP',
  logGroup: 'CODERDB_LOG_GROUP',
  transport: 'CODERDB_TRANSPORT',
  url: 'CODERDB_URL',
  awsProfile: 'CODERDB_AWS_PROFILE',
  awsEndpoint: 'CODERDB_AWS_ENDPOINT',
  iamAuth: 'CODERDB_IAM_AUTH',
  installClient: 'CODERDB_INSTALL_CLIENT',
  task: 'CODERDB_TASK',
  production: 'CODERDB_PRODUCTION',
  statementTimeoutMs: 'CODERDB_STATEMENT_TIMEOUT_MS',
  lockTimeoutMs: 'CODERDB_LOCK_TIMEOUT_MS',
  readStatementTimeoutMs: 'CODERDB_READ_STATEMENT_TIMEOUT_MS',
  readLockTimeoutMs: 'CODERDB_READ_LOCK_TIMEOUT_MS',
  readerUrl: 'CODERDB_READER_URL',
  readerSecretId: 'CODERDB_READER_SECRET_ID',
  readerIamUser: 'CODERDB_READER_IAM_USER',
  readerUrlEnv: 'CODERDB_READER_URL_ENV',
  auditLogGroup: 'CODERDB_AUDIT_LOG_GROUP',
  auditRequired: 'CODERDB_AUDIT_REQUIRED',
} as const satisfies Record<keyof Omit<Profile, 'name' | 'origins'>, string>;
type Field = keyof typeof FIELDS;
export type ProfileField = Field;

export type ProfileOverrides = Partial<Record<Field, string | boolean | number | undefined>>;

export interface ConfigFile {
  defaultProfile?: string;
  profiles?: Record<string, Record<string, unknown>>;
}

export interface LoadOptions {
  profile?: string;
  configFile?: string;
  /** Values from command-line flags; undefined entries are ignored. */
  overrides?: ProfileOverrides;
  env?: NodeJS.ProcessEnv;
}

export const SANDBOX_PROFILE = 'sandbox';

export function readConfigFile(file: string, required: boolean): ConfigFile {
  let text: string;
  try {
    const bytes = readFileBounded(file, CONFIG_LIMIT, {
      code: 'config.too-large',
      what: `config file ${file}`,
    });
    const decoded = decodeUtf8(bytes);
    if (decoded === undefined) throw usageError('config.encoding', `config file ${file} is not valid UTF-8`);
    text = decoded;
  } catch (error) {
    if (error instanceof CoderdbError) throw error;
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw usageError('config.unreadable', `cannot read config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usageError('config.invalid', `config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw usageError('config.invalid', `config file ${file} must hold a JSON object`);
  }
  return parsed as ConfigFile;
}

/** Resolves the effective profile: defaults ← file ← environment ← flags. */
export function loadProfile(options: LoadOptions = {}): Profile {
  const env = options.env ?? process.env;
  // An empty variable counts as unset, as shells make unsetting awkward.
  const file = options.configFile || env.CODERDB_CONFIG || paths.configFile();
  const config = readConfigFile(file, Boolean(options.configFile || env.CODERDB_CONFIG));
  const name = options.profile || env.CODERDB_PROFILE || config.defaultProfile || 'default';

  const layers: [ProfileOverrides, (field: Field) => ValueOrigin][] = [];
  const fromFile = config.profiles?.[name];
  if (name === SANDBOX_PROFILE) {
    layers.push([sandboxLayer(), () => 'sandbox']);
  } else if (!fromFile && name !== 'default') {
    const known = Object.keys(config.profiles ?? {});
    throw usageError('config.unknown-profile', `no profile named "${name}" in ${file}`, {
      hint: known.length
        ? `known profiles: ${known.join(', ')}, sandbox`
        : 'create it, or use --profile sandbox',
    });
  }
  if (fromFile) layers.push([checkFileProfile(fromFile, name, file), () => 'profile']);
  layers.push([envLayer(env), (field) => `env ${FIELDS[field]}`]);
  if (options.overrides) layers.push([options.overrides, () => 'flag']);

  const profile: Profile = { name, ...DEFAULTS };
  const origins: Partial<Record<Field, ValueOrigin>> = {};
  for (const [layer, origin] of layers) {
    applyLayer(profile, layer, name);
    for (const [field, value] of Object.entries(layer) as [Field, unknown][]) {
      if (value !== undefined) origins[field] = origin(field);
    }
  }
  profile.origins = origins;
  return profile;
}

function sandboxLayer(): ProfileOverrides {
  const state = readSandboxState();
  if (!state) {
    throw usageError('sandbox.not-running', 'the sandbox is not running', {
      hint: 'start it with `coderdb sandbox start`',
    });
  }
  return {
    // A private sandbox's URL is known only inside its emulated task (and to Secrets Manager).
    ...(state.private ? {} : { url: state.databaseUrl }),
    awsEndpoint: state.awsEndpoint,
    region: state.region,
    securityGroup: 'sg-0b2b0521f178fdb73',
  };
}

function checkFileProfile(values: Record<string, unknown>, name: string, file: string): ProfileOverrides {
  const layer: ProfileOverrides = {};
  for (const [key, value] of Object.entries(values)) {
    if (!(key in FIELDS)) {
      throw usageError('config.unknown-field', `profile "${name}" in ${file} has an unknown field "${key}"`, {
        hint: `known fields: ${Object.keys(FIELDS).join(', ')}`,
      });
    }
    if (!['string', 'boolean', 'number'].includes(typeof value)) {
      throw usageError(
        'config.invalid',
        `profile "${name}" field "${key}" must be a string, number or boolean`,
      );
    }
    layer[key as Field] = value as string | boolean | number;
  }
  return layer;
}

function envLayer(env: NodeJS.ProcessEnv): ProfileOverrides {
  const layer: ProfileOverrides = {};
  for (const [field, variable] of Object.entries(FIELDS) as [Field, string][]) {
    const value = env[variable];
    if (value !== undefined && value !== '') layer[field] = value;
  }
  return layer;
}

function applyLayer(profile: Profile, layer: ProfileOverrides, name: string): void {
  for (const [field, raw] of Object.entries(layer) as [Field, string | boolean | number | undefined][]) {
    if (raw === undefined) continue;
    switch (field) {
      case 'transport': {
        const value = String(raw);
        if (!(TRANSPORTS as readonly string[]).includes(value)) {
          throw usageError('config.invalid', `unknown transport "${value}" in profile "${name}"`, {
            hint: `use one of: ${TRANSPORTS.join(', ')}`,
          });
        }
        profile.transport = value as TransportName;
        break;
      }
      case 'url':
        profile.url = new Secret(String(raw));
        break;
      case 'readerUrl':
        profile.readerUrl = new Secret(String(raw));
        break;
      case 'iamAuth':
      case 'installClient':
      case 'production':
      case 'auditRequired':
        profile[field] = toBoolean(raw, field);
        break;
      case 'statementTimeoutMs':
      case 'lockTimeoutMs':
      case 'readStatementTimeoutMs':
      case 'readLockTimeoutMs':
        profile[field] = toNumber(raw, field);
        break;
      default:
        profile[field] = String(raw);
    }
  }
}

function toBoolean(value: string | boolean | number, field: string): boolean {
  if (typeof value === 'boolean') return value;
  const text = String(value).toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(text)) return true;
  if (['0', 'false', 'no', 'off'].includes(text)) return false;
  throw usageError('config.invalid', `${field} must be true or false, not "${value}"`);
}

function toNumber(value: string | boolean | number, field: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) {
    throw usageError('config.invalid', `${field} must be a non-negative number, not "${value}"`);
  }
  return number;
}

/** The profile as plain data with secrets redacted, for `coderdb config show`. */
export function describeProfile(profile: Profile): Record<string, unknown> {
  const { url, readerUrl, origins: _origins, ...rest } = profile;
  return {
    ...rest,
    url: url ? redactUrl(url.reveal()) : undefined,
    ...(readerUrl ? { readerUrl: redactUrl(readerUrl.reveal()) } : {}),
  };
}

/** Where a profile value came from: the layer that set it last, or the default. */
export function originOf(profile: Profile, field: Field): ValueOrigin {
  return profile.origins?.[field] ?? 'default';
}
