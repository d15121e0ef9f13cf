// Several statements in one input, built so that a server reading the text differently from the
// guard (standard_conforming_strings off, another client encoding) or the simple protocol's
// multi-statement messages would run a statement the guard never saw; and transaction control
// that would end coderdb's READ ONLY transaction so that what follows runs outside it.

import type { GuardCase } from '../cases.js';

const TAILS: [string, string][] = [
  ['UPDATE', 'update t set v = $$PWNED$$ where id = id'],
  ['DELETE', 'delete from t'],
  ['sequence bump', "select nextval('s')"],
  [
    'backend kill',
    "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'coderdb-bystander'",
  ],
  ['slot creation', "select pg_create_physical_replication_slot('coderdb_corpus_slot')"],
];

const ENDERS = ['commit', 'end', 'rollback', 'abort', 'commit and chain', 'rollback and chain'];

export const SMUGGLING: GuardCase[] = [
  // With standard conforming strings (always, as the guard makes sure), 'a\' is a whole string and
  // what follows is another one: reads. The server would see the same.
  ...TAILS.map(
    ([tail, sql]): GuardCase => ({
      name: `smuggle: a backslash string hides a ${tail} after COMMIT`,
      sql: `select 'a\\', ' b; commit; ${sql.replace(/'/g, "''")}; --'`,
      expect: 'read',
    }),
  ),
  ...TAILS.map(
    ([tail, sql]): GuardCase => ({
      name: `smuggle: standard_conforming_strings flipped by set_config, then a ${tail}`,
      sql: `select set_config('standard_conforming_strings', 'off', false);\nselect 'a\\', ' b; commit; ${sql.replace(/'/g, "''")}; --'`,
      expect: 'forbidden',
      why: /how the server reads the SQL/,
      server: 'unsafe',
    }),
  ),
  ...TAILS.map(
    ([tail, sql]): GuardCase => ({
      name: `smuggle: standard_conforming_strings flipped inside to_tsvector via ts_stat, then a ${tail}`,
      sql: `select * from ts_stat('select to_tsvector(set_config(''standard_conforming_strings'',''off'',false))');\nselect 'a\\', ' b; commit; ${sql.replace(/'/g, "''")}; --'`,
      expect: 'write',
      why: /ts_stat/,
      server: 'unsafe',
    }),
  ),
  ...TAILS.flatMap(([tail, sql]) =>
    ENDERS.map(
      (ender): GuardCase => ({
        name: `smuggle: ${ender.toUpperCase()} then a ${tail}`,
        sql: `select 1; ${ender}; ${sql}`,
        expect: 'forbidden',
        why: /transaction control/,
        server: 'unsafe',
      }),
    ),
  ),
  {
    name: 'smuggle: the issue file with the UPDATE aimed at t',
    sql: "select ('select to_tsvector(set_config(''standard_conforming_strings'',''off'',false))'::text).ts_stat;\nselect 'a\\', ' b; commit; update t set v = $$PWNED$$ where id = id; --'",
    expect: 'write',
    why: /ts_stat/,
    server: 'unsafe',
  },
  {
    name: 'smuggle: SET NAMES SJIS then a backslash in a multi-byte character',
    sql: "SET NAMES 'SJIS'; SELECT E'\u0401\\' , pg_advisory_lock(46) -- '",
    expect: 'forbidden',
    why: /how the server reads the SQL/,
    server: 'unsafe',
  },
  {
    name: 'smuggle: START TRANSACTION READ WRITE then a DELETE',
    sql: 'START TRANSACTION READ WRITE; DELETE FROM t WHERE id = 1',
    expect: 'forbidden',
    server: 'unsafe',
  },
  {
    name: 'smuggle: SAVEPOINT and ROLLBACK TO around a write',
    sql: "SAVEPOINT x; UPDATE t SET v = 'x' WHERE id = 1; ROLLBACK TO x",
    expect: 'forbidden',
    server: 'unsafe',
  },
  {
    name: 'smuggle: PREPARE a DELETE, then EXECUTE it',
    sql: 'PREPARE coderdb_s1 AS DELETE FROM t WHERE id = 1; EXECUTE coderdb_s1',
    expect: 'write',
  },
  {
    name: 'smuggle: PREPARE a read, EXECUTE it with a volatile argument',
    sql: "PREPARE coderdb_s2(bigint) AS SELECT $1; EXECUTE coderdb_s2(nextval('s'))",
    expect: 'write',
  },
  {
    name: 'smuggle: a DELETE in a writing CTE behind many reads',
    sql: `${'SELECT 1; '.repeat(50)}WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d`,
    expect: 'write',
  },
  {
    name: 'smuggle: a statement hidden after a line comment with a carriage return',
    sql: 'SELECT 1 -- comment\r DELETE FROM t WHERE id = 1',
    // \r ends the comment, and DELETE is then a column label: SELECT 1 AS delete FROM t ….
    expect: 'read',
  },
  {
    name: 'smuggle: a statement after a form feed',
    sql: 'SELECT 1;\f DELETE FROM t WHERE id = 1',
    expect: 'write',
  },
  {
    name: 'smuggle: psql backslash-semicolon is no separator for the server',
    sql: 'SELECT 1 \\; DELETE FROM t',
    expect: 'usage',
    code: 'sql.syntax',
  },
  {
    name: 'smuggle: a nested comment that the server closes later',
    sql: 'SELECT 1 /* /* */ ; DELETE FROM t; */',
    expect: 'read',
  },
  {
    name: 'smuggle: a dollar quote whose tag looks like a parameter',
    sql: 'SELECT $1$ ; DELETE FROM t $1$',
    expect: 'usage',
    code: 'sql.syntax',
  },
  {
    name: 'smuggle: E-string with an escaped quote and a DELETE inside',
    sql: "SELECT E'\\'; DELETE FROM t; --'",
    expect: 'read',
  },
  {
    name: 'smuggle: a doubled quote ends the string: the DELETE is real',
    sql: "SELECT 'x'''; DELETE FROM t; --'",
    expect: 'write',
    allRows: true,
  },
];
