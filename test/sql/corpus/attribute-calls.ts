// Attribute notation: in PostgreSQL `(x).f` is `f(x)` when f is not a field of x's type, and `t.f`
// is `f(t)` (t's whole row) when f is not a column of t. The guard must see each as the call it is.

import type { GuardCase } from '../cases.js';

interface Target {
  fn: string;
  /** An argument of the type the function takes. */
  arg: string;
  why: RegExp;
  server: GuardCase['server'];
}

const OTHERS = `(SELECT pid FROM pg_stat_activity WHERE application_name = 'coderdb-bystander')`;

const TARGETS: Target[] = [
  { fn: 'pg_terminate_backend', arg: 'pid', why: /terminates a database session/, server: 'unsafe' },
  { fn: 'pg_cancel_backend', arg: 'pid', why: /cancels a running query/, server: 'unsafe' },
  { fn: 'nextval', arg: "'s'::regclass", why: /advances a sequence/, server: 'refuses' },
  { fn: 'pg_advisory_lock', arg: '4242::bigint', why: /takes a session lock/, server: 'undone' },
  { fn: 'pg_try_advisory_lock', arg: '4243::bigint', why: /takes a session lock/, server: 'undone' },
  { fn: 'pg_advisory_lock_shared', arg: '4244::bigint', why: /takes a session lock/, server: 'undone' },
  {
    fn: 'lo_unlink',
    arg: '(SELECT min(oid) FROM pg_largeobject_metadata)',
    why: /deletes a large object/,
    server: 'undone',
  },
  { fn: 'lo_import', arg: "'/etc/hostname'::text", why: /reads a server file/, server: 'undone' },
  {
    fn: 'pg_read_file',
    arg: "'postgresql.conf'::text",
    why: /reads a file on the database server/,
    server: 'undone',
  },
  { fn: 'pg_ls_dir', arg: "'.'::text", why: /lists a directory/, server: 'undone' },
  { fn: 'pg_stat_file', arg: "'PG_VERSION'::text", why: /reads a file/, server: 'undone' },
  { fn: 'pg_read_binary_file', arg: "'PG_VERSION'::text", why: /reads a file/, server: 'undone' },
  {
    fn: 'pg_create_physical_replication_slot',
    arg: "'coderdb_corpus_slot'::name",
    why: /replication slot/,
    server: 'unsafe',
  },
  {
    fn: 'pg_drop_replication_slot',
    arg: "'coderdb_no_slot'::name",
    why: /replication slot/,
    server: 'unsafe',
  },
  {
    fn: 'pg_stat_reset_single_table_counters',
    arg: "'t'::regclass",
    why: /resets statistics/,
    server: 'unsafe',
  },
  { fn: 'pg_stat_reset_shared', arg: "'bgwriter'::text", why: /resets statistics/, server: 'unsafe' },
  { fn: 'ts_stat', arg: "'select 1'::text", why: /runs the SQL text/, server: 'undone' },
  { fn: 'pg_notify', arg: "'x'::text", why: /sends a notification/, server: 'undone' },
];

const forms: [string, (fn: string, arg: string) => string][] = [
  ['parenthesised value', (fn, arg) => `SELECT (${arg}).${fn}`],
  ['double parentheses', (fn, arg) => `SELECT ((${arg})).${fn}`],
  ['quoted name', (fn, arg) => `SELECT (${arg})."${fn}"`],
  ['in a subquery', (fn, arg) => `SELECT * FROM (SELECT (${arg}).${fn} AS x) AS q`],
  ['in WHERE', (fn, arg) => `SELECT 1 WHERE (${arg}).${fn} IS NOT NULL`],
  ['in a CTE', (fn, arg) => `WITH c AS (SELECT (${arg}).${fn} AS x) SELECT * FROM c`],
  ['in a never-taken CASE branch', (fn, arg) => `SELECT CASE WHEN false THEN (${arg}).${fn}::text END`],
  ['as an argument', (fn, arg) => `SELECT coalesce((${arg}).${fn}::text, 'x')`],
  ['in ORDER BY', (fn, arg) => `SELECT 1 AS one ORDER BY (${arg}).${fn}::text`],
  ['under EXPLAIN ANALYZE', (fn, arg) => `EXPLAIN ANALYZE SELECT (${arg}).${fn}`],
];

const columnOf = (arg: string) =>
  arg === 'pid' ? `(SELECT pid FROM pg_stat_activity WHERE application_name = 'coderdb-bystander')` : arg;

export const ATTRIBUTE_CALLS: GuardCase[] = [
  {
    name: 'attr: the issue: ts_stat in attribute notation runs SQL text',
    sql: "select ('select to_tsvector(set_config(''standard_conforming_strings'',''off'',false))'::text).ts_stat;\nselect 'a\\', ' b; commit; update templates set description = $$PWNED$$ where id = id; --'",
    expect: 'write',
    why: /ts_stat/,
    server: 'unsafe',
  },
  {
    name: 'attr: the issue: pg_terminate_backend over a column of pg_stat_activity',
    sql: "select (pid).pg_terminate_backend from pg_stat_activity where application_name = 'coderdb-bystander'",
    expect: 'write',
    why: /terminates a database session/,
    server: 'unsafe',
  },
  {
    name: 'attr: a column reference of a subquery alias',
    sql: 'select q.pid from (select pid from pg_stat_activity) q where (q.pid).pg_cancel_backend is null',
    expect: 'write',
    server: 'unsafe',
  },
  {
    name: 'attr: whole-row call t.f of a user function over the row type',
    sql: 'SELECT t.row_bump FROM t',
    expect: 'read',
    catalog: true,
  },
  {
    name: 'attr: whole-row call with the table qualified by its schema',
    sql: 'SELECT x.row_bump FROM t AS x WHERE x.id = 1',
    expect: 'read',
    catalog: true,
  },
  {
    name: 'attr: whole-row call t.nextval is refused by name',
    sql: 'SELECT t.nextval FROM t',
    expect: 'write',
    why: /advances a sequence/,
  },
  {
    name: 'attr: whole-row call through a derived table alias',
    sql: `SELECT u.pg_terminate_backend FROM ${OTHERS} AS u`,
    expect: 'write',
    why: /terminates/,
    server: 'unsafe',
  },
  {
    name: 'attr: field of a composite, then a call',
    sql: `SELECT (r).pid.pg_cancel_backend FROM (SELECT a AS r FROM pg_stat_activity a WHERE a.application_name = 'coderdb-bystander') AS q`,
    expect: 'write',
    server: 'unsafe',
  },
  {
    name: 'attr: a harmless call in attribute notation',
    sql: "SELECT ('abc'::text).length, (1).text, (t).v FROM t",
    expect: 'read',
  },
  {
    name: 'attr: to_json over a whole row',
    sql: 'SELECT t.to_json FROM t',
    expect: 'read',
  },
  {
    name: 'attr: an ordinary qualified column',
    sql: 'SELECT t.id, t.v FROM t WHERE t.id < 3',
    expect: 'read',
  },
  {
    name: 'attr: unicode-escaped function name',
    sql: String.raw`SELECT ('s'::regclass).U&"nextva\006c"`,
    expect: 'write',
    why: /advances a sequence/,
  },
  {
    name: 'attr: comment between the dot and the name',
    sql: "SELECT ('s'::regclass)./* x */nextval",
    expect: 'write',
    why: /advances a sequence/,
  },
  ...TARGETS.flatMap((target) =>
    forms.map(
      ([form, build]): GuardCase => ({
        name: `attr: ${target.fn} ${form}`,
        sql: build(target.fn, columnOf(target.arg)),
        expect: 'write',
        why: target.why,
        // A branch never taken is never run, so PostgreSQL has nothing to refuse there.
        ...(target.server === 'refuses' && form.includes('never-taken') ? { server: 'undone' as const } : {}),
        ...(target.server && target.server !== 'refuses' ? { server: target.server } : {}),
      }),
    ),
  ),
];
