// Functions that run SQL text they are given: the text is a string to the parser, so nothing in it
// can be checked. Every way of calling them, with every kind of hidden statement.

import type { GuardCase } from '../cases.js';

const NOT_CHECKED = /runs the SQL text it is given|runs SQL built from its arguments/;

const HIDDEN: [string, string][] = [
  ['an UPDATE', "update t set v = ''PWNED'' where id = id returning *"],
  ['a DELETE', 'delete from t returning *'],
  [
    'a backend kill',
    "select pg_terminate_backend(pid) from pg_stat_activity where application_name = ''coderdb-bystander''",
  ],
  ['a setting flip', "select set_config(''standard_conforming_strings'', ''off'', false)"],
  ['a sequence bump', "select nextval(''s'')"],
  ['a plain read', 'select 1'],
];

const CALLS: [string, (text: string) => string][] = [
  ['query_to_xml', (text) => `SELECT query_to_xml('${text}', true, false, '')`],
  ['query_to_xmlschema', (text) => `SELECT query_to_xmlschema('${text}', true, false, '')`],
  ['query_to_xml_and_xmlschema', (text) => `SELECT query_to_xml_and_xmlschema('${text}', true, false, '')`],
  ['schema-qualified query_to_xml', (text) => `SELECT pg_catalog.query_to_xml('${text}', false, true, '')`],
  ['ts_stat in FROM', (text) => `SELECT * FROM ts_stat('${text}')`],
  ['ts_stat with weights', (text) => `SELECT * FROM ts_stat('${text}', 'ab')`],
  ['ts_rewrite of a query', (text) => `SELECT ts_rewrite('a & b'::tsquery, '${text}')`],
  ['crosstab', (text) => `SELECT * FROM crosstab('${text}') AS ct(a text)`],
];

export const SQL_EXECUTING: GuardCase[] = [
  ...CALLS.flatMap(([call, build]) =>
    HIDDEN.map(
      ([hidden, text]): GuardCase => ({
        name: `exec-sql: ${call} hiding ${hidden}`,
        sql: build(text),
        expect: 'write',
        why: NOT_CHECKED,
        server: 'unsafe',
      }),
    ),
  ),
  {
    name: 'exec-sql: query_to_xml with text built at run time',
    sql: "SELECT query_to_xml('del' || 'ete from t', true, false, '')",
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: query_to_xml with dollar-quoted text',
    sql: 'SELECT query_to_xml($q$delete from t returning 1$q$, true, false, $$$$)',
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: query_to_xml with text from a table',
    sql: "SELECT query_to_xml(v, true, false, '') FROM t WHERE id = 1",
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: query_to_xml with text from format()',
    sql: "SELECT query_to_xml(format('delete from %I', 't'), true, false, '')",
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: ts_stat in a lateral join',
    sql: "SELECT s.* FROM t, LATERAL ts_stat('select to_tsvector(v) from t') AS s",
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: ts_stat in a CTE',
    sql: "WITH w AS (SELECT * FROM ts_stat('select to_tsvector(''a'')')) SELECT count(*) FROM w",
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: ts_stat in attribute notation over a column',
    sql: "SELECT (q).ts_stat FROM (SELECT 'select to_tsvector(''x'')'::text AS q) AS x",
    expect: 'write',
    why: /ts_stat/,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: query_to_xml under EXPLAIN ANALYZE',
    sql: "EXPLAIN ANALYZE SELECT query_to_xml('delete from t', true, false, '')",
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'exec-sql: a plain EXPLAIN of query_to_xml runs nothing',
    sql: "EXPLAIN SELECT query_to_xml('delete from t', true, false, '')",
    expect: 'read',
  },
  {
    name: 'exec-sql: dblink_exec to the same server',
    sql: "SELECT dblink_exec('dbname=postgres', 'update t set v = 1')",
    expect: 'write',
    why: /outside this transaction/,
  },
  {
    name: 'exec-sql: dblink query',
    sql: "SELECT * FROM dblink('dbname=postgres', 'delete from t returning id') AS d(id int)",
    expect: 'write',
    why: /outside this transaction/,
  },
  {
    name: 'exec-sql: connectby',
    sql: "SELECT * FROM connectby('t', 'id', 'v', '1', 0) AS c(id int, v int, level int)",
    expect: 'write',
    why: NOT_CHECKED,
  },
  {
    name: 'exec-sql: xpath_table',
    sql: "SELECT * FROM xpath_table('id', 'v', 't', '/a', 'true') AS x(id int, a text)",
    expect: 'write',
    why: NOT_CHECKED,
  },
  {
    name: 'exec-sql: pg_cron schedule',
    sql: "SELECT cron.schedule('* * * * *', 'delete from t')",
    expect: 'write',
    why: /schedules SQL/,
  },
  {
    name: 'exec-sql: RDS S3 export runs its query',
    sql: "SELECT * FROM aws_s3.query_export_to_s3('delete from t returning 1', 'bucket', 'key')",
    expect: 'write',
    why: /runs the SQL text/,
  },
  {
    name: 'exec-sql: pg_background',
    sql: "SELECT pg_background_launch('delete from t')",
    expect: 'write',
    why: /another session/,
  },
  {
    name: 'exec-sql: table_to_xml only reads the table',
    sql: "SELECT table_to_xml('t', true, false, '')",
    expect: 'read',
  },
  {
    name: 'exec-sql: cursor_to_xml reads a cursor declared in the batch',
    sql: "DECLARE c CURSOR FOR SELECT * FROM t; SELECT cursor_to_xml('c', 2, true, false, '')",
    expect: 'read',
  },
  {
    name: 'exec-sql: three-argument ts_rewrite takes no SQL',
    sql: "SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)",
    expect: 'read',
    // Its two-argument overload runs SQL; the catalog judges a name by all of them.
    catalog: true,
  },
];
