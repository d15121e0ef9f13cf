// What can go wrong with psql in the container, as the errors coderdb reports: each says what
// happened in the task and what to do about it. A statement's own failure is built from what psql
// reported, in the same error model as the direct transport (src/transport/pg-errors.ts).

import { type CoderdbError, connectionError, DOCTOR_HINT } from '../../core/errors.js';
import { fromPgError, sqlErrorFrom } from '../pg-errors.js';
import type { PositionShift } from './psql-script.js';
import type { ErrorExtras } from './psql-stderr.js';

const USE_TUNNEL = 'use --transport tunnel, which needs nothing in the container';

export function psqlMissing(where: string): CoderdbError {
  return connectionError('exec.no-psql', `psql is not installed in the container (${where})`, {
    hint:
      'add --install-client to install it with apk (as the runbook does; the task needs a route to the ' +
      `Alpine mirrors), or ${USE_TUNNEL}`,
  });
}

export function installFailed(where: string, output: string): CoderdbError {
  return connectionError(
    'exec.install-failed',
    `installing psql in the container (${where}) failed: ${output || 'apk gave no reason'}`,
    { hint: USE_TUNNEL },
  );
}

export function noUrl(where: string, urlEnv: string): CoderdbError {
  return connectionError('exec.no-url', `the container (${where}) has no ${urlEnv} environment variable`, {
    hint: 'set urlEnv (env CODERDB_URL_ENV) to the variable that holds the database URL in the container',
  });
}

export function containerLacks(where: string, tool: string): CoderdbError {
  return connectionError(
    'exec.container-unsupported',
    `the container (${where}) lacks ${tool}, which the exec transport needs`,
    { hint: USE_TUNNEL },
  );
}

export function psqlTooOld(where: string, version: string): CoderdbError {
  return connectionError(
    'exec.psql-too-old',
    `psql in the container (${where}) is too old (${version}); the exec transport needs psql 12 or newer`,
    { hint: USE_TUNNEL },
  );
}

/** psql exited before its session started: its own message says why it could not connect. */
export function connectFailure(reason: string, where: string): CoderdbError {
  const known: [RegExp, string, string][] = [
    [
      /password authentication failed|no password supplied|authentication failed/i,
      'db.auth-failed',
      `check the password in the container's URL; ${DOCTOR_HINT}`,
    ],
    [/database ".*" does not exist/i, 'db.no-database', 'check the database name in the URL'],
    [/timeout expired|timed out/i, 'db.timeout', DOCTOR_HINT],
    [/connection refused/i, 'db.refused', DOCTOR_HINT],
    [/could not translate host name|name or service not known/i, 'db.host-not-found', DOCTOR_HINT],
    [
      /too many clients|remaining connection slots/i,
      'db.too-many-connections',
      'the server has no free connection slots; try again',
    ],
  ];
  const match = known.find(([pattern]) => pattern.test(reason));
  const [code, hint] = match ? [match[1], match[2]] : ['exec.psql-failed', DOCTOR_HINT];
  return connectionError(
    code,
    `psql in the container could not connect to the database (${where}): ${reason || 'no reason given'}`,
    { hint },
  );
}

/** psql exited in the middle of the session: the server ended it, or the network dropped. */
export function lostConnection(reason: string, where: string): CoderdbError {
  return connectionError(
    'db.connection-lost',
    `psql in the container lost its connection to the database (${where})${reason ? `: ${reason}` : ''}`,
    { hint: 'the server closed the session or the network dropped; run the command again' },
  );
}

export function protocolError(what: string): CoderdbError {
  return connectionError('exec.protocol', `unexpected output from psql in the container: ${what}`, {
    hint: 'run the command again; if it persists, use --transport tunnel',
  });
}

/**
 * A statement's failure from psql's SQLSTATE and message, with the position (moved back from the
 * text the server saw to the caller's SQL), detail and hint that psql wrote to stderr.
 */
export function statementError(
  failure: { sqlState: string; message: string },
  extras: ErrorExtras,
  shift: PositionShift,
  where: string,
): CoderdbError {
  const position = extras.position === undefined ? undefined : extras.position - shift.shift + shift.offset;
  const error = {
    message: failure.message,
    ...(position !== undefined && position > 0 ? { position } : {}),
    ...(extras.detail ? { detail: extras.detail } : {}),
    ...(extras.hint ? { hint: extras.hint } : {}),
  };
  return /^[0-9A-Z]{5}$/.test(failure.sqlState)
    ? fromPgError({ ...error, code: failure.sqlState }, where)
    : sqlErrorFrom(error);
}
