// One error model for every transport: a failure reaching or authenticating to the database is a
// `connection` error with a hint; an error the server raised for a statement is an `sql` error
// carrying its SQLSTATE. The exec transport builds the same errors from what psql reports.

import { CoderdbError, DOCTOR_HINT } from '../core/errors.js';
import { scrub } from '../core/secret.js';

interface ServerError {
  message: string;
  code?: string;
  severity?: string;
  position?: string | number;
  detail?: string;
  hint?: string;
}

const CONNECTION_STATES: Record<string, { code: string; hint: string }> = {
  '28P01': { code: 'db.auth-failed', hint: `check the password in the secret or URL; ${DOCTOR_HINT}` },
  '28000': { code: 'db.auth-failed', hint: `the server rejected this user or host; ${DOCTOR_HINT}` },
  '3D000': { code: 'db.no-database', hint: 'check the database name in the URL' },
  '53300': { code: 'db.too-many-connections', hint: 'the server has no free connection slots; try again' },
  '57P01': { code: 'db.connection-lost', hint: 'the server was shut down or the session was terminated' },
  '57P03': { code: 'db.starting', hint: 'the server is starting up; try again shortly' },
};

const HINTS_BY_STATE: Record<string, string> = {
  '25006': 'this session is read-only; add --write to plan a change',
  '42501': 'the database user lacks this privilege',
  '57014': 'the statement ran longer than the statement timeout',
  '55P03': 'another session holds a lock on these rows; try again, or raise the lock timeout',
  '40P01': 'a deadlock was detected; try again',
  '22001': 'the value is too long for the column',
  '23505': 'a row with the same unique key already exists',
  '23503': 'a foreign key would be violated',
  '42P01': 'check the table name with `coderdb tables`',
  '42703': 'check the column names with `coderdb describe TABLE`',
};

/** Maps an error from node-postgres or a socket to a CoderdbError. */
export function fromPgError(error: unknown, target: string): CoderdbError {
  if (error instanceof CoderdbError) return error;
  const err = error as NodeJS.ErrnoException & ServerError;
  const networkCode = err.code && !/^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;
  if (networkCode || !err.code) return networkError(err, target);
  const connection = CONNECTION_STATES[err.code];
  if (connection) {
    return new CoderdbError('connection', connection.code, scrub(`${target}: ${err.message}`), {
      hint: connection.hint,
      sqlState: err.code,
      cause: error,
    });
  }
  return sqlErrorFrom(err);
}

export function sqlErrorFrom(err: ServerError): CoderdbError {
  const position = err.position === undefined || err.position === '' ? undefined : Number(err.position);
  const detail = [err.detail && `DETAIL: ${err.detail}`].filter(Boolean).join('\n');
  return new CoderdbError('sql', `sql.${err.code ?? 'error'}`, scrub(`ERROR: ${err.message}`), {
    sqlState: err.code,
    ...(position ? { position } : {}),
    ...(detail ? { detail: scrub(detail) } : {}),
    hint: err.hint ? scrub(err.hint) : (HINTS_BY_STATE[err.code ?? ''] ?? undefined),
  });
}

function networkError(err: NodeJS.ErrnoException, target: string): CoderdbError {
  const message = scrub(err.message || String(err));
  const known: Record<string, [string, string]> = {
    ECONNREFUSED: ['db.refused', `connection refused by ${target}`],
    ENOTFOUND: ['db.host-not-found', `host not found for ${target}`],
    EAI_AGAIN: ['db.host-not-found', `host lookup failed for ${target}`],
    ETIMEDOUT: ['db.timeout', `timed out connecting to ${target}`],
    EHOSTUNREACH: ['db.unreachable', `host unreachable: ${target}`],
    ENETUNREACH: ['db.unreachable', `network unreachable: ${target}`],
    ECONNRESET: ['db.connection-lost', `the connection to ${target} was reset`],
    EPIPE: ['db.connection-lost', `the connection to ${target} was closed`],
  };
  const entry = err.code ? known[err.code] : undefined;
  if (entry) return new CoderdbError('connection', entry[0], entry[1], { hint: DOCTOR_HINT, cause: err });
  if (/timeout/i.test(message)) {
    return new CoderdbError('connection', 'db.timeout', `timed out connecting to ${target}`, {
      hint: DOCTOR_HINT,
    });
  }
  if (/terminated|ended|closed|not queryable/i.test(message)) {
    return new CoderdbError(
      'connection',
      'db.connection-lost',
      `the connection to ${target} was lost: ${message}`,
      {
        hint: DOCTOR_HINT,
      },
    );
  }
  return new CoderdbError('connection', 'db.connect-failed', `cannot connect to ${target}: ${message}`, {
    hint: DOCTOR_HINT,
    cause: err,
  });
}
