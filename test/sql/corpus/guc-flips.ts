// Settings SQL must not change: coderdb's own limits (statement, lock and idle timeouts, the client
// check), the read-only mode and identity of the session, and how the server reads SQL text. Every
// way to change a setting: SET, SET LOCAL, SET SESSION, RESET, SET … TO DEFAULT, set_config.

import type { GuardCase } from '../cases.js';

const TIMEOUTS = [
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'client_connection_check_interval',
];
const LIMITS = /coderdb's own limits on the session/;
const RO = /read-only mode or identity|transaction coderdb manages|transaction control/;
const READS_SQL = /how the server reads the SQL/;

const SET_FORMS: [string, (name: string) => string][] = [
  ['SET', (name) => `SET ${name} = 0`],
  ['SET LOCAL', (name) => `SET LOCAL ${name} TO '0'`],
  ['SET SESSION', (name) => `SET SESSION ${name} = 0`],
  ['SET TO DEFAULT', (name) => `SET ${name} TO DEFAULT`],
  ['RESET', (name) => `RESET ${name}`],
  ['quoted upper-case name', (name) => `SET "${name.toUpperCase()}" = 0`],
  ['set_config for the session', (name) => `SELECT set_config('${name}', '0', false)`],
  ['set_config for the transaction', (name) => `SELECT pg_catalog.set_config('${name}', '0', true)`],
  ['set_config in a subquery', (name) => `SELECT * FROM (SELECT set_config('${name}', '0', false)) AS x`],
  ['after a read', (name) => `SELECT 1; SET ${name} = 0; SELECT pg_sleep(0)`],
];

const PROTECTED: [string, string, RegExp][] = [
  ['transaction_read_only', 'off', RO],
  ['default_transaction_read_only', 'off', RO],
  ['session_replication_role', 'replica', RO],
  ['role', 'postgres', RO],
  ['session_authorization', 'postgres', RO],
  ['transaction_isolation', 'serializable', RO],
  ['standard_conforming_strings', 'off', READS_SQL],
  ['client_encoding', 'SJIS', READS_SQL],
];

export const GUC_FLIPS: GuardCase[] = [
  ...TIMEOUTS.flatMap((name) =>
    SET_FORMS.map(
      ([form, build]): GuardCase => ({
        name: `guc: ${name} by ${form}`,
        sql: build(name),
        expect: 'forbidden',
        why: LIMITS,
        server: 'undone',
      }),
    ),
  ),
  ...PROTECTED.flatMap(([name, value, why]): GuardCase[] => [
    {
      name: `guc: set_config of ${name} for the transaction`,
      sql: `SELECT set_config('${name}', '${value}', true)`,
      expect: 'forbidden',
      why,
      server: 'unsafe',
    },
    {
      name: `guc: SET SESSION ${name}`,
      sql: `SET SESSION ${name} = '${value}'`,
      expect: 'forbidden',
      why,
      server: 'unsafe',
    },
    {
      name: `guc: set_config of upper-case ${name}`,
      sql: `SELECT set_config('${name.toUpperCase()}', '${value}', false)`,
      expect: 'forbidden',
      why,
      server: 'unsafe',
    },
  ]),
  {
    name: 'guc: set_config with a name from a subquery',
    sql: "SELECT set_config((SELECT 'statement_timeout'), '0', false)",
    expect: 'forbidden',
    why: /not a string literal/,
    server: 'unsafe',
  },
  {
    name: 'guc: set_config with a concatenated name',
    sql: "SELECT set_config('statement' || '_timeout', '0', false)",
    expect: 'forbidden',
    why: /not a string literal/,
    server: 'unsafe',
  },
  {
    name: 'guc: set_config with a name from a column',
    sql: "SELECT set_config(name, '0', false) FROM pg_settings WHERE name LIKE '%timeout'",
    expect: 'forbidden',
    why: /not a string literal/,
    server: 'unsafe',
  },
  {
    name: 'guc: a setting flipped inside a function body text',
    sql: "SELECT query_to_xml('select set_config(''lock_timeout'', ''0'', false)', true, false, '')",
    expect: 'write',
    server: 'unsafe',
  },
  {
    name: 'guc: RESET ALL',
    sql: 'RESET ALL',
    expect: 'forbidden',
    why: /RESET ALL/,
    server: 'unsafe',
  },
  {
    name: 'guc: SET SESSION CHARACTERISTICS then a write',
    sql: 'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DELETE FROM t WHERE id = 1',
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  {
    name: 'guc: default_transaction_read_only off, COMMIT, then a write',
    sql: 'SET default_transaction_read_only = off; COMMIT; DELETE FROM t WHERE id = 1',
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  {
    name: 'guc: ALTER ROLE to lift a timeout for later sessions',
    sql: 'ALTER ROLE CURRENT_USER SET statement_timeout = 0',
    expect: 'write',
  },
  {
    name: 'guc: ALTER DATABASE to lift read-only for later sessions',
    sql: 'ALTER DATABASE postgres SET default_transaction_read_only = off',
    expect: 'write',
  },
  {
    name: 'guc: a function that sets a timeout when called',
    sql: 'CREATE FUNCTION coderdb_f() RETURNS int LANGUAGE sql SET statement_timeout = 0 AS $$ SELECT 1 $$',
    expect: 'write',
  },
  { name: 'guc: harmless SET application_name', sql: "SET application_name = 'x'", expect: 'read' },
  { name: 'guc: harmless SET LOCAL work_mem', sql: "SET LOCAL work_mem = '8MB'", expect: 'read' },
  { name: 'guc: harmless SET search_path', sql: 'SET search_path TO public', expect: 'read' },
  { name: 'guc: harmless RESET search_path', sql: 'RESET search_path', expect: 'read' },
  { name: 'guc: SHOW a timeout', sql: 'SHOW statement_timeout', expect: 'read' },
  {
    name: 'guc: current_setting of a timeout',
    sql: "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')",
    expect: 'read',
  },
  {
    name: 'guc: harmless set_config is still refused read-only',
    sql: "SELECT set_config('application_name', 'x', false)",
    expect: 'write',
    why: /changes a server setting/,
    server: 'undone',
  },
];
