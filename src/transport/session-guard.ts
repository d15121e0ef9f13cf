// The session's share of the read-only boundary, the same on every transport (see README "Safe"):
// - single-statement: every protocol message carries one statement, so that no reading of the text
//   by the server, however it differs from the guard's, can smuggle a COMMIT and a write after it;
// - session-read-only: default_transaction_read_only for the whole session, so that a transaction
//   that somehow ends is followed by another read-only one;
// - settings-watch: the settings the other layers depend on are recorded once the session is set
//   up, and the session ends the moment one of them changes (or its transaction ends) under it;
// - read timeouts: statement_timeout and lock_timeout for the whole read session.
// Each transport applies these through the functions here; the tests switch each off alone
// (src/core/layers.ts) to prove that the others still hold.

import { CoderdbError } from '../core/errors.js';
import { layerOn } from '../core/layers.js';
import type { OpenOptions } from './types.js';

/**
 * Session settings that make text output the same on every server and every transport, and that
 * make the server read SQL exactly as the guard's parser did: a role or database could otherwise
 * turn standard_conforming_strings off or pick an encoding in which a backslash ends a string.
 * One statement each: every protocol message carries exactly one.
 */
export const SESSION_SETTINGS: readonly string[] = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, MDY'",
  "SET IntervalStyle = 'postgres'",
  'SET standard_conforming_strings = on',
  "SET client_encoding = 'UTF8'",
];

/** The statements that set a session up, in order, one statement each. */
export function setupStatements(options: OpenOptions): string[] {
  const statements = [...SESSION_SETTINGS];
  const { read } = options;
  if (read) {
    // Session-level (not SET LOCAL): they outlive any transaction, as the read-only default does.
    statements.push(`SET statement_timeout = ${milliseconds(read.statementTimeoutMs)}`);
    statements.push(`SET lock_timeout = ${milliseconds(read.lockTimeoutMs)}`);
    if (layerOn(options.disabledLayers, 'session-read-only')) {
      statements.push('SET default_transaction_read_only = on');
    }
  }
  return statements;
}

/**
 * Puts every setting of a read session back before it closes (RESET ALL): PGlite (the sandbox)
 * serves every connection from one backend, whose settings would otherwise pass to the next
 * session, a write included. A real server forgets them with the connection.
 */
export function teardownStatement(options: OpenOptions): string | undefined {
  return options.read ? 'RESET ALL' : undefined;
}

function milliseconds(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.trunc(value) : 0;
}

/** Whether each statement must travel alone in its protocol message. */
export function sendsSingleStatements(options: OpenOptions): boolean {
  return layerOn(options.disabledLayers, 'single-statement');
}

/** Whether the session watches its settings (read sessions only: a write may SET what it likes). */
export function watchesSettings(options: OpenOptions): boolean {
  return options.read !== undefined && layerOn(options.disabledLayers, 'settings-watch');
}

/**
 * The watched settings and how a query reads each. Most are GUC_REPORT, so node-postgres hears of
 * a change in a ParameterStatus message at once; the role never is and default_transaction_read_only
 * only from PostgreSQL 14, so the query runs after every statement as well (and is all psql has:
 * it keeps ParameterStatus to itself). session_user and current_user are SQL keywords, and every
 * function is schema-qualified, so that no search_path can put something else in their place.
 */
export const WATCHED_SETTINGS: readonly { name: string; expression: string }[] = [
  {
    name: 'standard_conforming_strings',
    expression: "pg_catalog.current_setting('standard_conforming_strings')",
  },
  { name: 'client_encoding', expression: 'pg_catalog.pg_client_encoding()' },
  {
    name: 'default_transaction_read_only',
    expression: "pg_catalog.current_setting('default_transaction_read_only')",
  },
  { name: 'is_superuser', expression: "pg_catalog.current_setting('is_superuser')" },
  { name: 'session_authorization', expression: 'session_user' },
  { name: 'role', expression: 'current_user' },
];

/** One row, one text column per watched setting, in WATCHED_SETTINGS order. */
export const WATCH_QUERY = `SELECT ${WATCHED_SETTINGS.map((s) => s.expression).join(', ')}`;

/** Commands whose tag says that they end the transaction themselves. */
const ENDS_TRANSACTION = new Set(['COMMIT', 'ROLLBACK', 'END', 'ABORT']);

export function endsTransaction(command: string): boolean {
  return ENDS_TRANSACTION.has(command.toUpperCase());
}

/** BEGIN, START TRANSACTION and the commands that end a transaction (first word of the tag). */
export function controlsTransaction(command: string): boolean {
  const word = command.toUpperCase();
  return word === 'BEGIN' || word === 'START' || ENDS_TRANSACTION.has(word);
}

/** The values recorded once the session was set up, and the comparison every later value meets. */
export class SettingsWatch {
  readonly #baseline = new Map<string, string>();

  constructor(values: ReadonlyMap<string, string>) {
    for (const { name } of WATCHED_SETTINGS) {
      const value = values.get(name);
      if (value !== undefined) this.#baseline.set(name, value);
    }
  }

  /** A watched setting's value as the server now reports it: the error if it changed. */
  check(name: string, value: string): CoderdbError | undefined {
    const expected = this.#baseline.get(name);
    if (expected === undefined || expected === value) return undefined;
    return settingChanged(name, expected, value);
  }

  /** Checks a row of WATCH_QUERY. */
  checkRow(row: readonly (string | null)[]): CoderdbError | undefined {
    for (const [index, { name }] of WATCHED_SETTINGS.entries()) {
      const failure = this.check(name, row[index] ?? '');
      if (failure) return failure;
    }
    return undefined;
  }
}

/** Values of WATCH_QUERY's row by setting name. */
export function watchedValues(row: readonly (string | null)[]): Map<string, string> {
  return new Map(WATCHED_SETTINGS.map(({ name }, index) => [name, row[index] ?? '']));
}

export function settingChanged(name: string, from: string, to: string): CoderdbError {
  return new CoderdbError(
    'refused',
    'session.setting-changed',
    `the server's ${name} changed from "${from}" to "${to}" during a read session; coderdb ended the session`,
    { hint: 'a statement changed a setting the read-only boundary depends on; nothing after it ran' },
  );
}

export function transactionEnded(): CoderdbError {
  return new CoderdbError(
    'refused',
    'session.transaction-ended',
    "a statement ended the read session's transaction; coderdb ended the session",
    { hint: 'COMMIT, ROLLBACK and the like cannot be part of a read; nothing after it ran' },
  );
}

export function multipleStatements(): CoderdbError {
  return new CoderdbError(
    'refused',
    'session.multiple-statements',
    'the server read this text as more than one statement; coderdb sends one statement at a time and refused it',
    { hint: 'send each statement on its own; nothing of this text ran', sqlState: '42601' },
  );
}

/** The server's refusal of a multi-statement text in a Parse message. */
export function isMultipleStatementsError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return code === '42601' && /multiple commands/i.test(String(message));
}
