// Turns a PostgreSQL connection URL into node-postgres settings with libpq's meaning of sslmode.
// node-postgres treats `sslmode=require` as verify-full, which fails against RDS unless the RDS CA
// bundle is installed; operators' URLs (Coder's included) say `require` meaning "encrypt", so we
// follow libpq: require = encrypted without verification, verify-ca/verify-full = verified.

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { ClientConfig } from 'pg';
import { usageError } from '../core/errors.js';
import { Secret } from '../core/secret.js';

export interface PgTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: Secret;
  sslmode: 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
  sslrootcert?: string;
  /** Other query parameters, passed through where node-postgres understands them. */
  params: Record<string, string>;
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

export function parsePgUrl(url: Secret | string): PgTarget {
  const text = typeof url === 'string' ? url : url.reveal();
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw usageError('url.invalid', 'the database URL is not a valid URL', {
      hint: 'expected postgres://user:password@host:5432/database?sslmode=require',
    });
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw usageError(
      'url.invalid',
      `the database URL must start with postgres:// (not ${parsed.protocol}//)`,
    );
  }
  const params = Object.fromEntries(parsed.searchParams.entries());
  const sslmode = (params.sslmode ?? 'prefer') as PgTarget['sslmode'];
  if (!SSL_MODES.includes(sslmode)) {
    throw usageError('url.invalid', `unknown sslmode "${params.sslmode}" in the database URL`, {
      hint: `use one of ${SSL_MODES.join(', ')}`,
    });
  }
  const host = params.host ?? decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, ''));
  const password = parsed.password ? decodeURIComponent(parsed.password) : params.password;
  return {
    host: host || 'localhost',
    port: Number(parsed.port || params.port || 5432),
    database: decodeURIComponent(parsed.pathname.slice(1)) || params.dbname || 'postgres',
    user: decodeURIComponent(parsed.username) || params.user || 'postgres',
    ...(password ? { password: new Secret(password) } : {}),
    sslmode,
    ...(params.sslrootcert ? { sslrootcert: params.sslrootcert } : {}),
    params,
  };
}

/** A URL for the target, for tools such as psql and pg_dump; includes the password. */
export function formatPgUrl(target: PgTarget): Secret {
  const url = new URL('postgresql://placeholder');
  url.hostname = target.host.includes(':') ? `[${target.host}]` : target.host;
  url.port = String(target.port);
  url.pathname = `/${encodeURIComponent(target.database)}`;
  url.username = encodeURIComponent(target.user);
  if (target.password) url.password = encodeURIComponent(target.password.reveal());
  for (const [key, value] of Object.entries(target.params)) url.searchParams.set(key, value);
  url.searchParams.set('sslmode', target.sslmode);
  return new Secret(url.toString());
}

/** The target without credentials, for messages: `user@host:port/database`. */
/** A host name or address that is this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    bare === 'localhost' ||
    bare.endsWith('.localhost') ||
    bare.startsWith('127.') ||
    bare === '::1' ||
    bare.startsWith('/')
  );
}

export function describeTarget(target: PgTarget): string {
  return `${target.user}@${target.host}:${target.port}/${target.database}`;
}

export function toClientConfig(target: PgTarget, applicationName: string): ClientConfig {
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    ...(target.password ? { password: target.password.reveal() } : {}),
    ssl: sslOptions(target),
    application_name: applicationName,
    connectionTimeoutMillis: Number(target.params.connect_timeout ?? 10) * 1000,
    keepAlive: true,
  };
}

function sslOptions(target: PgTarget): ConnectionOptions | false {
  switch (target.sslmode) {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
      // node-postgres cannot fall back from TLS to plain text; local and sandbox servers have no
      // TLS, remote ones (RDS) should be asked for with sslmode=require.
      return isLoopback(target.host) ? false : { rejectUnauthorized: false };
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
    case 'verify-full':
      return {
        rejectUnauthorized: true,
        ...(target.sslrootcert ? { ca: readFileSync(target.sslrootcert, 'utf8') } : {}),
        ...(target.sslmode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
      };
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host.startsWith('/');
}
