// Hostile and tricky SQL for the guard, each with the outcome coderdb must give. guard.test.ts
// checks the classification with the parser alone; read-only.test.ts runs every input through the
// read path against PGlite and PostgreSQL and checks that nothing in the database changed.

import { isCoderdbError } from '../../src/core/errors.js';
import { type AnalyzedStatement, analyze } from '../../src/sql/guard.js';

/**
 * - read: allowed in a read-only session;
 * - write: refused unless --write;
 * - forbidden: never run, not even with --write;
 * - usage: not SQL coderdb can send (syntax error, NUL byte, bad encoding, empty, too large).
 */
export type Outcome = 'read' | 'write' | 'forbidden' | 'usage';

/**
 * What PostgreSQL does with the statements in a READ ONLY transaction when the guard is bypassed:
 * - refuses: raises an error (25006 read-only transaction, or another);
 * - undone: may run, but everything it does ends with the transaction or the session;
 * - unsafe: has effects the transaction cannot undo (transaction control, files, replication
 *   slots, other sessions); only the guard stands in its way, so the test never sends it.
 */
export type ServerBehaviour = 'refuses' | 'undone' | 'unsafe';

export interface GuardCase {
  name: string;
  sql: string;
  expect: Outcome;
  /** For write and forbidden: the refusal names why. For usage: matches the message. */
  why?: RegExp;
  /** For usage: the error code. */
  code?: string;
  /** With --write, still refused unless --allow-all-rows: it changes every row of a table. */
  allRows?: boolean;
  /** For write: how PostgreSQL treats it without the guard (default `refuses`). For read: set to
   * `refuses` when PostgreSQL refuses it anyway (a user-defined function the guard cannot see). */
  server?: ServerBehaviour;
  /** For read: the function-catalog layer refuses it (the live catalog knows what the guard cannot:
   * a volatile or opaque user function, a view over one, a volatile operator or cast). */
  catalog?: boolean;
  /** For read: the redaction layer refuses it without --show-secrets (raw COPY output of credential
   * columns, which it cannot redact). */
  redaction?: 'refuses';
  /** The outcome with --write is another layer's business (all-rows detection): not checked. */
  withWrite?: 'unchecked';
  /** Engines read-only.test.ts does not send it to, and why (a defect outside the guard). */
  skip?: { engines: ('pglite' | 'postgres')[]; why: string };
}

/** The outcome the guard gives `sql`, the statements, or the error. */
export async function outcomeOf(
  sql: string,
): Promise<{ outcome: Outcome; statements?: AnalyzedStatement[]; error?: unknown }> {
  try {
    const statements = await analyze(sql);
    const effects = new Set(statements.map((statement) => statement.effect));
    const outcome = effects.has('forbidden') ? 'forbidden' : effects.has('write') ? 'write' : 'read';
    return { outcome, statements };
  } catch (error) {
    if (isCoderdbError(error) && error.kind === 'usage') return { outcome: 'usage', error };
    throw error;
  }
}

const MiB = 1024 * 1024;
const deep = (open: string, inner: string, close: string, depth: number) =>
  `${open.repeat(depth)}${inner}${close.repeat(depth)}`;
/** Bytes decoded as a lenient reader would: invalid sequences become U+FFFD. */
const lenient = (bytes: number[]) => Buffer.from(bytes).toString('utf8');

const SEQ = /advances a sequence|sets a sequence/;
const RO = /transaction control|transaction coderdb manages|read-only mode or identity/;
const READS_SQL = /how the server reads the SQL/;
const NOT_CHECKED = /cannot be checked/;

export const CASES: GuardCase[] = [
  // ---- plain reads, quoting and escapes ----
  { name: 'plain select', sql: 'select 1', expect: 'read' },
  { name: 'doubled quote', sql: "SELECT 'it''s'", expect: 'read' },
  { name: "escape string with \\'", sql: String.raw`SELECT E'\''`, expect: 'read' },
  { name: 'escape string hides a DELETE', sql: String.raw`SELECT E'\' ; DELETE FROM t; --'`, expect: 'read' },
  {
    name: 'backslash does not escape in a standard string: the DELETE is real',
    sql: String.raw`SELECT '\' ; DELETE FROM t; --'`,
    expect: 'write',
    why: /DELETE changes rows of t/,
    allRows: true,
  },
  { name: 'dollar quoting', sql: 'SELECT $$;DELETE FROM t;$$', expect: 'read' },
  { name: 'tagged dollar quoting', sql: 'SELECT $tag$ ; DELETE FROM t; $tag$ AS x', expect: 'read' },
  { name: 'nested dollar tags', sql: 'SELECT $a$ $b$ ; DROP TABLE t; $b$ ; $a$', expect: 'read' },
  { name: 'semicolon in a string and an identifier', sql: `SELECT 'a;b' AS "semi;colon"`, expect: 'read' },
  {
    name: 'quoted identifier with doubled quote',
    sql: 'select 1 as "x""; delete from t; --"',
    expect: 'read',
  },
  { name: 'block comment hides a statement', sql: 'SELECT /* DELETE FROM t; */ 1', expect: 'read' },
  {
    name: 'nested block comments',
    sql: 'SELECT /* outer /* inner; DELETE FROM t */ still a comment; DROP TABLE t */ 1',
    expect: 'read',
  },
  { name: 'line comment then newline', sql: 'SELECT 1 -- ; DELETE FROM t\n', expect: 'read' },
  { name: 'comment before the statement', sql: '-- DELETE FROM t\nSELECT 1', expect: 'read' },
  { name: 'trailing comment after semicolon', sql: 'SELECT 1; -- DROP TABLE t', expect: 'read' },
  {
    name: 'line comment ends the line only',
    sql: 'SELECT 1 -- harmless\n; DELETE FROM t WHERE id = 1',
    expect: 'write',
    why: /DELETE/,
  },
  { name: 'unicode escape string', sql: String.raw`SELECT U&'\0064elete'`, expect: 'read' },
  {
    name: 'unicode escape identifier',
    sql: String.raw`SELECT U&"d\0061ta" FROM (SELECT 1 AS data) AS x`,
    expect: 'read',
  },
  {
    name: 'identifiers named like keywords',
    sql: 'SELECT "select"."from", 2 AS "delete", 3 AS "drop" FROM (SELECT 1 AS "from") AS "select"',
    expect: 'read',
  },
  {
    name: 'column named like a parse-tree field',
    sql: 'SELECT 1 AS intoClause, 2 AS "IntoClause"',
    expect: 'read',
  },
  {
    name: 'SQL inside a string',
    sql: "select id from users where name = 'delete from users'",
    expect: 'read',
  },
  { name: 'mixed case', sql: 'SeLeCt CoUnT(*) FrOm UsErS', expect: 'read' },
  {
    name: 'with and order by',
    sql: 'WITH x AS (SELECT * FROM users) SELECT count(*) FROM x',
    expect: 'read',
  },
  {
    name: 'recursive CTE',
    sql: 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT sum(n) FROM r',
    expect: 'read',
  },
  { name: 'TABLE', sql: 'TABLE t', expect: 'read' },
  { name: 'VALUES', sql: "VALUES (1, 'a'), (2, 'b')", expect: 'read' },
  { name: 'view and materialized view', sql: 'SELECT * FROM v_users, mv LIMIT 3', expect: 'read' },
  { name: 'sequence state', sql: 'SELECT last_value, is_called FROM s', expect: 'read' },
  { name: 'currval is a read', sql: "SELECT currval('s')", expect: 'read' },
  { name: 'SHOW', sql: 'SHOW transaction_read_only', expect: 'read' },
  { name: 'SHOW ALL', sql: 'SHOW ALL', expect: 'read' },
  { name: 'current_setting', sql: "SELECT current_setting('default_transaction_read_only')", expect: 'read' },
  { name: 'table_to_xml only reads', sql: "SELECT table_to_xml('t', true, false, '')", expect: 'read' },
  { name: 'large object read', sql: 'SELECT lo_get(oid) FROM pg_largeobject_metadata', expect: 'read' },
  { name: 'pg_sleep', sql: 'SELECT pg_sleep(0)', expect: 'read' },
  { name: 'tablesample', sql: 'SELECT count(*) FROM users TABLESAMPLE SYSTEM (50)', expect: 'read' },
  { name: 'several reads', sql: 'SELECT 1; SELECT 2;; SELECT 3;', expect: 'read' },
  { name: 'leading and trailing semicolons', sql: ';;SELECT 1;;', expect: 'read' },
  { name: 'session SET of a harmless setting', sql: 'SET search_path = public, pg_catalog', expect: 'read' },
  {
    name: 'SET LOCAL timeout',
    sql: "SET LOCAL statement_timeout = '5s'",
    expect: 'forbidden',
    why: /coderdb's own limits/,
    server: 'undone',
  },
  { name: 'RESET one setting', sql: 'RESET search_path', expect: 'read' },
  { name: 'LISTEN and UNLISTEN', sql: 'LISTEN coderdb_test; UNLISTEN *', expect: 'read' },
  {
    name: 'cursor',
    sql: 'DECLARE c CURSOR FOR SELECT * FROM users ORDER BY id; FETCH 2 FROM c; MOVE 1 IN c; CLOSE c',
    expect: 'read',
  },
  {
    name: 'PREPARE of a read, then EXPLAIN EXECUTE',
    sql: 'PREPARE coderdb_q1(int) AS SELECT * FROM users WHERE id = $1; EXPLAIN EXECUTE coderdb_q1(1)',
    expect: 'read',
  },
  { name: 'EXPLAIN of a DELETE runs nothing', sql: 'EXPLAIN DELETE FROM users', expect: 'read' },
  { name: 'EXPLAIN of an UPDATE', sql: "EXPLAIN UPDATE t SET v = 'x'", expect: 'read' },
  { name: 'EXPLAIN (ANALYZE false)', sql: 'EXPLAIN (ANALYZE false) DELETE FROM t', expect: 'read' },
  {
    name: "EXPLAIN (ANALYZE 'off', COSTS off)",
    sql: "EXPLAIN (ANALYZE 'off', COSTS off) INSERT INTO t VALUES (9, 'z')",
    expect: 'read',
  },
  { name: 'EXPLAIN of nextval plans only', sql: "EXPLAIN SELECT nextval('s')", expect: 'read' },
  { name: 'EXPLAIN of SELECT INTO creates nothing', sql: 'EXPLAIN SELECT 1 INTO coderdb_t2', expect: 'read' },
  { name: 'EXPLAIN ANALYZE of a read', sql: 'EXPLAIN ANALYZE SELECT * FROM users', expect: 'read' },
  { name: 'COPY TO STDOUT', sql: 'COPY t TO STDOUT', expect: 'read' },
  {
    name: 'COPY query TO STDOUT csv',
    sql: 'COPY (SELECT * FROM users WHERE id < 3) TO STDOUT WITH (FORMAT csv, HEADER)',
    expect: 'read',
  },
  { name: 'COPY TO STDOUT binary', sql: 'COPY t TO STDOUT (FORMAT binary)', expect: 'read' },
  { name: 'unicode text', sql: 'SELECT \'🚀 ünïcødé ✓\' AS "ëmoji 🚀"', expect: 'read' },
  {
    name: 'invalid UTF-8 decoded with replacement characters',
    sql: lenient([...Buffer.from("SELECT 'a"), 0xff, 0xc3, ...Buffer.from("b' AS x")]),
    expect: 'read',
  },
  {
    name: 'no-break space is part of an identifier, not white space',
    sql: 'SELECT 1 AS x\u00a0',
    expect: 'read',
  },
  {
    name: 'very long identifier (truncated by the server)',
    sql: `SELECT 1 AS ${'a'.repeat(10_000)}`,
    expect: 'read',
  },
  { name: 'very long quoted identifier', sql: `SELECT 1 AS "${'é'.repeat(5_000)}"`, expect: 'read' },
  { name: '1000 nested parentheses', sql: `SELECT ${deep('(', '1', ')', 1000)}`, expect: 'read' },
  {
    name: '1000 nested subqueries',
    sql: `SELECT ${deep('(SELECT ', '1', ')', 1000)}`,
    expect: 'read',
    skip: {
      engines: ['pglite'],
      why: 'PGlite served by pglite-socket hangs for good on subqueries nested 200 deep',
    },
  },
  { name: '1000 nested ARRAY constructors', sql: `SELECT ${deep('ARRAY[', '1', ']', 1000)}`, expect: 'read' },
  {
    name: '5000 chained additions',
    sql: `SELECT 1${' + 1'.repeat(5000)}`,
    expect: 'read',
    skip: {
      engines: ['pglite'],
      why: 'PGlite served by pglite-socket hangs for good on expressions this deep',
    },
  },
  {
    name: '1 MiB in one statement',
    sql: `SELECT length('${'x'.repeat(MiB)}')`,
    expect: 'read',
  },
  {
    name: '1 MiB IN list in one statement',
    sql: `SELECT count(*) FROM users WHERE id IN (${Array.from({ length: 150_000 }, (_, i) => i).join(',')})`,
    expect: 'read',
  },
  {
    name: '1 MiB of statements',
    sql: `SELECT length('${'y'.repeat(1000)}');\n`.repeat(Math.ceil(MiB / 1020)),
    expect: 'read',
  },
  {
    name: 'user function that calls nextval (the guard cannot see inside)',
    sql: 'SELECT bump()',
    expect: 'read',
    server: 'refuses',
    catalog: true,
  },
  {
    name: 'user function that deletes (the guard cannot see inside)',
    sql: 'SELECT wipe()',
    expect: 'read',
    server: 'refuses',
    catalog: true,
  },

  // ---- several statements ----
  {
    name: 'read then delete',
    sql: 'select 1; delete from users',
    expect: 'write',
    why: /statement 2 \(DELETE\).*DELETE changes rows of users/,
    allRows: true,
  },
  {
    name: 'delete hidden after reads',
    sql: "SELECT 1; SELECT 2; UPDATE t SET v = 'x' WHERE id = 1",
    expect: 'write',
    why: /statement 3 \(UPDATE\)/,
  },
  {
    name: '1 MiB of statements ending in a DELETE',
    sql: `${'SELECT 1;'.repeat(Math.ceil(MiB / 9))}DELETE FROM t WHERE id = 1`,
    expect: 'write',
    why: /DELETE changes rows of t/,
  },

  // ---- DML ----
  { name: 'DELETE without WHERE', sql: 'delete from users', expect: 'write', why: /DELETE/, allRows: true },
  { name: 'DELETE WHERE true', sql: 'DELETE FROM users WHERE true', expect: 'write', allRows: true },
  { name: 'DELETE WHERE 1=1', sql: 'DELETE FROM users WHERE 1=1', expect: 'write', allRows: true },
  {
    name: 'DELETE WHERE EXISTS of a constant subquery',
    sql: 'DELETE FROM t WHERE EXISTS (SELECT 1)',
    expect: 'write',
    allRows: true,
  },
  { name: 'DeLeTe in mixed case', sql: 'DeLeTe FrOm UsErS wHeRe Id = 1', expect: 'write', why: /DELETE/ },
  { name: 'UPDATE with WHERE', sql: "UPDATE users SET name = 'x' WHERE id = 1", expect: 'write' },
  { name: 'UPDATE without WHERE', sql: 'UPDATE users SET name = name', expect: 'write', allRows: true },
  {
    name: 'UPDATE WHERE (SELECT true)',
    sql: "UPDATE t SET v = 'x' WHERE (SELECT true)",
    expect: 'write',
    allRows: true,
  },
  {
    name: 'UPDATE … FROM whose WHERE names only the other table',
    sql: "UPDATE t SET v = 'x' FROM users u WHERE u.id = 1",
    expect: 'write',
    allRows: true,
  },
  {
    name: 'DELETE … USING whose WHERE names only the other table',
    sql: "DELETE FROM t USING users u WHERE u.name = 'x'",
    expect: 'write',
    allRows: true,
  },
  {
    name: 'UPDATE … FROM joined to the target by alias',
    sql: "UPDATE t AS x SET v = 'x' FROM users u WHERE u.id = x.id",
    expect: 'write',
  },
  {
    name: 'DELETE … USING joined to the target by name',
    sql: 'DELETE FROM public.t USING users u WHERE u.id = t.id',
    expect: 'write',
  },
  {
    name: 'UPDATE whose WHERE reaches the target from a subquery',
    sql: "UPDATE t SET v = 'x' WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = t.id)",
    expect: 'write',
  },
  { name: 'INSERT', sql: "INSERT INTO t VALUES (10, 'x')", expect: 'write', why: /INSERT changes rows of t/ },
  {
    name: 'INSERT … ON CONFLICT DO UPDATE',
    sql: "INSERT INTO t VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = excluded.v",
    expect: 'write',
  },
  {
    name: 'INSERT … ON CONFLICT DO NOTHING',
    sql: "INSERT INTO t VALUES (1, 'x') ON CONFLICT DO NOTHING",
    expect: 'write',
  },
  {
    name: 'MERGE',
    sql: 'MERGE INTO t USING (SELECT 1 AS id) AS s ON t.id = s.id WHEN MATCHED THEN DELETE',
    expect: 'write',
    why: /MERGE/,
  },
  { name: 'TRUNCATE', sql: 'TRUNCATE t', expect: 'write', why: /TRUNCATE/ },

  // ---- writing CTEs ----
  {
    name: 'writing CTE',
    sql: 'with d as (delete from users returning *) select * from d',
    expect: 'write',
    why: /WITH clause contains a data-modifying DELETE/,
    allRows: true,
  },
  {
    name: 'writing CTE among reads',
    sql: "WITH a AS (SELECT 1), b AS (UPDATE t SET v = 'x' WHERE id = 1 RETURNING *) SELECT * FROM a, b",
    expect: 'write',
    why: /UPDATE/,
  },
  {
    name: 'INSERT in a CTE',
    sql: "WITH x AS (INSERT INTO t VALUES (11, 'y') RETURNING id) SELECT id FROM x",
    expect: 'write',
    why: /INSERT/,
  },
  {
    name: 'writing CTE nested in a CTE',
    sql: 'WITH a AS (WITH b AS (DELETE FROM t RETURNING *) SELECT * FROM b) SELECT * FROM a',
    expect: 'write',
    why: /DELETE/,
    allRows: true,
  },
  {
    name: 'writing CTE inside a subquery',
    sql: 'SELECT * FROM (WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d) AS x',
    expect: 'write',
    why: /DELETE/,
  },
  {
    name: 'writing CTE in front of an UPDATE',
    sql: "WITH d AS (DELETE FROM t RETURNING id) UPDATE users SET name = 'x' WHERE id IN (SELECT id FROM d)",
    expect: 'write',
    allRows: true,
  },

  // ---- functions with side effects ----
  { name: 'nextval', sql: "SELECT nextval('s')", expect: 'write', why: SEQ },
  { name: 'setval', sql: "SELECT setval('s', 1)", expect: 'write', why: SEQ },
  { name: 'schema-qualified nextval', sql: "SELECT pg_catalog.nextval('s')", expect: 'write', why: SEQ },
  { name: 'quoted nextval', sql: `SELECT "nextval"('s')`, expect: 'write', why: SEQ },
  {
    name: 'unicode-escaped nextval',
    sql: String.raw`SELECT U&"nextva\006c"('s')`,
    expect: 'write',
    why: SEQ,
  },
  {
    name: 'comments inside a call',
    sql: "SELECT pg_catalog/**/./**/nextval/**/('s')",
    expect: 'write',
    why: SEQ,
  },
  { name: 'nextval in FROM', sql: "SELECT * FROM nextval('s')", expect: 'write', why: SEQ },
  { name: 'setval in a scalar subquery', sql: "SELECT (SELECT setval('s', 1))", expect: 'write', why: SEQ },
  {
    name: 'nextval in a branch never taken',
    sql: "SELECT CASE WHEN false THEN nextval('s') END",
    expect: 'write',
    why: SEQ,
    server: 'undone',
  },
  {
    name: 'nextval in VALUES',
    sql: "VALUES (nextval('s'))",
    expect: 'write',
    why: SEQ,
  },
  {
    name: 'set_config of transaction_read_only',
    sql: "SELECT set_config('transaction_read_only', 'off', false)",
    expect: 'forbidden',
    why: /transaction_read_only would change the read-only mode/,
    server: 'refuses',
  },
  {
    name: 'set_config of an ordinary setting',
    sql: "SELECT pg_catalog.set_config('search_path', 'public', true)",
    expect: 'write',
    why: /set_config\(\) changes a server setting/,
    server: 'undone',
  },
  {
    name: 'set_config with a computed name',
    sql: "SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'transaction_read_only'",
    expect: 'forbidden',
    why: /not a string literal/,
    server: 'refuses',
  },
  {
    name: 'set_config of role',
    sql: "SELECT set_config('role', 'postgres', false)",
    expect: 'forbidden',
    why: /role would change the read-only mode or identity/,
    server: 'undone',
  },
  {
    name: 'advisory lock',
    sql: 'SELECT pg_advisory_lock(1)',
    expect: 'write',
    why: /lock/,
    server: 'undone',
  },
  { name: 'advisory try-lock', sql: 'SELECT pg_try_advisory_lock(2)', expect: 'write', server: 'undone' },
  { name: 'advisory xact lock', sql: 'SELECT pg_advisory_xact_lock(3)', expect: 'write', server: 'undone' },
  {
    name: 'terminate a backend',
    sql: 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()',
    expect: 'write',
    why: /terminates a database session/,
    server: 'unsafe',
  },
  { name: 'cancel a backend', sql: 'SELECT pg_cancel_backend(0)', expect: 'write', server: 'undone' },
  {
    name: 'dblink_exec',
    sql: "SELECT dblink_exec('dbname=coder', 'DELETE FROM t')",
    expect: 'write',
    why: /outside this transaction/,
  },
  {
    name: 'lo_import',
    sql: "SELECT lo_import('/etc/hostname')",
    expect: 'write',
    why: /reads a server file/,
    server: 'undone',
  },
  {
    name: 'lo_export',
    sql: "SELECT lo_export(oid, '/tmp/coderdb-guard-test') FROM pg_largeobject_metadata",
    expect: 'write',
    why: /writes a file on the database server/,
    server: 'unsafe',
  },
  // PostgreSQL 15 lets lo_unlink delete a large object in a READ ONLY transaction (later versions
  // refuse it); only the rollback undoes it there.
  {
    name: 'lo_unlink',
    sql: 'SELECT lo_unlink(oid) FROM pg_largeobject_metadata',
    expect: 'write',
    why: /deletes a large object/,
    server: 'undone',
  },
  { name: 'lo_from_bytea', sql: "SELECT lo_from_bytea(0, 'x')", expect: 'write', server: 'undone' },
  { name: 'pg_notify', sql: "SELECT pg_notify('coderdb_test', 'x')", expect: 'write', server: 'undone' },
  { name: 'txid_current', sql: 'SELECT txid_current()', expect: 'write', server: 'undone' },
  { name: 'pg_reload_conf', sql: 'SELECT pg_reload_conf()', expect: 'write', server: 'unsafe' },
  { name: 'pg_stat_reset', sql: 'SELECT pg_stat_reset()', expect: 'write', server: 'unsafe' },
  {
    name: 'physical replication slot (survives a rollback)',
    sql: "SELECT pg_create_physical_replication_slot('coderdb_slot')",
    expect: 'write',
    why: /replication slot/,
    server: 'unsafe',
  },
  {
    name: 'query_to_xml runs SQL text',
    sql: "SELECT query_to_xml('select pg_terminate_backend(pg_backend_pid())', true, false, '')",
    expect: 'write',
    why: NOT_CHECKED,
    server: 'unsafe',
  },
  {
    name: 'query_to_xml of a DELETE',
    sql: "SELECT query_to_xml('delete from t returning *', true, false, '')",
    expect: 'write',
    why: NOT_CHECKED,
  },
  {
    name: 'ts_stat runs SQL text',
    sql: "SELECT * FROM ts_stat('select 1')",
    expect: 'write',
    why: NOT_CHECKED,
  },
  {
    name: 'two-argument ts_rewrite runs SQL text',
    sql: "SELECT ts_rewrite('a'::tsquery, 'select 1')",
    expect: 'write',
    why: NOT_CHECKED,
  },

  // ---- SELECT INTO, locking ----
  { name: 'SELECT INTO', sql: 'SELECT * INTO users_copy FROM users', expect: 'write', why: /SELECT INTO/ },
  {
    name: 'SELECT INTO TEMP',
    sql: 'SELECT 1 AS x INTO TEMP coderdb_tmp',
    expect: 'write',
    why: /SELECT INTO/,
  },
  {
    name: 'SELECT INTO in a UNION',
    sql: 'SELECT 1 INTO coderdb_t2 UNION SELECT 2',
    expect: 'write',
    why: /SELECT INTO/,
  },
  { name: 'FOR UPDATE', sql: 'SELECT * FROM users FOR UPDATE', expect: 'write', why: /FOR UPDATE\/SHARE/ },
  { name: 'FOR SHARE', sql: 'SELECT * FROM users WHERE id = 1 FOR SHARE', expect: 'write' },
  {
    name: 'FOR NO KEY UPDATE SKIP LOCKED',
    sql: 'SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED',
    expect: 'write',
  },
  { name: 'FOR KEY SHARE NOWAIT', sql: 'SELECT * FROM t FOR KEY SHARE NOWAIT', expect: 'write' },
  {
    name: 'FOR UPDATE in a subquery',
    sql: 'SELECT * FROM (SELECT * FROM t FOR UPDATE) AS x',
    expect: 'write',
  },
  {
    name: 'LOCK TABLE',
    sql: 'LOCK TABLE t',
    expect: 'write',
    why: /LOCK takes table locks/,
    server: 'undone',
  },
  {
    name: 'LOCK TABLE in share mode',
    sql: 'LOCK TABLE t IN ACCESS SHARE MODE',
    expect: 'write',
    server: 'undone',
  },

  // ---- procedural code and prepared statements ----
  {
    name: 'DO block that deletes',
    sql: 'DO $$ BEGIN DELETE FROM t; END $$',
    expect: 'write',
    why: /DO block/,
  },
  {
    name: 'harmless DO block',
    sql: "DO 'BEGIN NULL; END'",
    expect: 'write',
    why: /DO block/,
    server: 'undone',
  },
  { name: 'CALL', sql: 'CALL p_wipe()', expect: 'write', why: /CALL runs a procedure/ },
  // PGlite serves every connection from one backend, so coderdb_q1, prepared by an earlier input,
  // may still exist there.
  { name: 'EXECUTE', sql: 'EXECUTE coderdb_q1(1)', expect: 'write', why: /EXECUTE/, server: 'undone' },
  {
    name: 'PREPARE of a DELETE (preparing runs nothing)',
    sql: 'PREPARE coderdb_d AS DELETE FROM t',
    expect: 'write',
    why: /DELETE/,
    allRows: true,
    server: 'undone',
  },
  {
    name: 'PREPARE and EXECUTE of a DELETE',
    sql: 'PREPARE coderdb_d2 AS DELETE FROM t WHERE id = 1; EXECUTE coderdb_d2',
    expect: 'write',
  },
  {
    name: 'EXPLAIN EXECUTE evaluates its parameters',
    sql: 'PREPARE coderdb_p(text) AS SELECT $1; EXPLAIN EXECUTE coderdb_p(pg_advisory_lock(44)::text)',
    expect: 'write',
    why: /pg_advisory_lock\(\) takes a session lock/,
    server: 'undone',
  },

  // ---- EXPLAIN ANALYZE runs the statement ----
  {
    name: 'EXPLAIN ANALYZE DELETE',
    sql: 'EXPLAIN ANALYZE DELETE FROM t',
    expect: 'write',
    why: /DELETE/,
    allRows: true,
  },
  {
    name: 'EXPLAIN (ANALYZE) UPDATE',
    sql: "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET v = 'x' WHERE id = 1",
    expect: 'write',
  },
  { name: 'EXPLAIN (ANALYZE 1)', sql: 'EXPLAIN (ANALYZE 1) DELETE FROM t WHERE id = 1', expect: 'write' },
  {
    name: 'EXPLAIN ANALYZE SELECT INTO',
    sql: 'EXPLAIN ANALYZE SELECT 1 INTO coderdb_t3',
    expect: 'write',
    why: /SELECT INTO creates a table/,
    server: 'undone',
  },
  {
    name: 'EXPLAIN ANALYZE CREATE TABLE AS',
    sql: 'EXPLAIN ANALYZE CREATE TABLE coderdb_t4 AS SELECT 1',
    expect: 'write',
    why: /creates a table/,
    server: 'undone',
  },
  {
    name: 'EXPLAIN ANALYZE CREATE MATERIALIZED VIEW',
    sql: 'EXPLAIN ANALYZE CREATE MATERIALIZED VIEW coderdb_mv AS SELECT 1',
    expect: 'write',
    why: /creates a table/,
    server: 'undone',
  },
  {
    name: 'EXPLAIN ANALYZE EXECUTE',
    sql: 'EXPLAIN ANALYZE EXECUTE coderdb_q1(1)',
    expect: 'write',
    why: /EXECUTE/,
    server: 'undone',
  },
  { name: 'EXPLAIN ANALYZE FOR UPDATE', sql: 'EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE', expect: 'write' },
  { name: 'EXPLAIN ANALYZE nextval', sql: "EXPLAIN ANALYZE SELECT nextval('s')", expect: 'write', why: SEQ },

  // ---- COPY ----
  {
    name: 'COPY FROM STDIN',
    sql: 'COPY t FROM STDIN',
    expect: 'forbidden',
    why: /COPY FROM STDIN/,
    server: 'unsafe',
  },
  {
    name: 'COPY TO a server file',
    sql: "COPY t TO '/tmp/coderdb-guard-test'",
    expect: 'forbidden',
    why: /files on the database server/,
    server: 'unsafe',
  },
  {
    name: 'COPY FROM a server file',
    sql: "COPY t FROM '/etc/hostname'",
    expect: 'forbidden',
    why: /files on the database server/,
    server: 'unsafe',
  },
  {
    name: 'COPY TO PROGRAM',
    sql: "COPY (SELECT 1) TO PROGRAM 'touch /tmp/coderdb-pwned'",
    expect: 'forbidden',
    why: /PROGRAM runs a program/,
    server: 'unsafe',
  },
  {
    name: 'COPY FROM PROGRAM',
    sql: "COPY t FROM PROGRAM 'id'",
    expect: 'forbidden',
    why: /PROGRAM/,
    server: 'unsafe',
  },
  {
    name: 'COPY of a writing query TO STDOUT',
    sql: 'COPY (DELETE FROM t RETURNING *) TO STDOUT',
    expect: 'write',
    why: /DELETE/,
    allRows: true,
  },

  // ---- transaction control ----
  { name: 'BEGIN', sql: 'BEGIN', expect: 'forbidden', why: RO, server: 'unsafe' },
  {
    name: 'START TRANSACTION',
    sql: 'START TRANSACTION READ WRITE',
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  { name: 'COMMIT', sql: 'COMMIT', expect: 'forbidden', why: RO, server: 'unsafe' },
  { name: 'END', sql: 'END', expect: 'forbidden', why: RO, server: 'unsafe' },
  { name: 'ROLLBACK', sql: 'ROLLBACK', expect: 'forbidden', why: RO, server: 'unsafe' },
  { name: 'ABORT', sql: 'ABORT', expect: 'forbidden', why: RO, server: 'unsafe' },
  { name: 'COMMIT AND CHAIN', sql: 'COMMIT AND CHAIN', expect: 'forbidden', why: RO, server: 'unsafe' },
  { name: 'SAVEPOINT', sql: 'SAVEPOINT a', expect: 'forbidden', why: RO, server: 'unsafe' },
  { name: 'RELEASE', sql: 'RELEASE SAVEPOINT a', expect: 'forbidden', why: RO, server: 'unsafe' },
  { name: 'ROLLBACK TO', sql: 'ROLLBACK TO SAVEPOINT a', expect: 'forbidden', why: RO, server: 'unsafe' },
  {
    name: 'PREPARE TRANSACTION',
    sql: "PREPARE TRANSACTION 'x'",
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  { name: 'COMMIT PREPARED', sql: "COMMIT PREPARED 'x'", expect: 'forbidden', why: RO, server: 'unsafe' },
  {
    name: 'COMMIT then a write',
    sql: 'SELECT 1; COMMIT; DELETE FROM users',
    expect: 'forbidden',
    why: /statement 2 \(COMMIT\)/,
    server: 'unsafe',
  },
  {
    name: 'a whole transaction',
    sql: 'BEGIN; DELETE FROM t WHERE id = 1; COMMIT',
    expect: 'forbidden',
    server: 'unsafe',
  },
  {
    name: 'SET TRANSACTION READ WRITE',
    sql: 'SET TRANSACTION READ WRITE',
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  {
    name: 'SET SESSION CHARACTERISTICS',
    sql: 'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  {
    name: 'SET TRANSACTION ISOLATION LEVEL',
    sql: 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  {
    name: 'SET TRANSACTION SNAPSHOT',
    sql: "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
    expect: 'forbidden',
    why: RO,
    server: 'unsafe',
  },
  {
    name: 'SET transaction_read_only = off',
    sql: 'SET transaction_read_only = off',
    expect: 'forbidden',
    why: RO,
    server: 'refuses',
  },
  {
    name: 'SET LOCAL transaction_read_only',
    sql: 'SET LOCAL transaction_read_only TO off',
    expect: 'forbidden',
    why: RO,
    server: 'refuses',
  },
  {
    name: 'quoted mixed-case setting name',
    sql: 'SET "Transaction_Read_Only" = off',
    expect: 'forbidden',
    why: RO,
    server: 'refuses',
  },
  {
    name: 'SET default_transaction_read_only',
    sql: 'SET default_transaction_read_only = off',
    expect: 'forbidden',
    why: RO,
    server: 'undone',
  },
  { name: 'RESET ALL', sql: 'RESET ALL', expect: 'forbidden', why: /RESET ALL/, server: 'unsafe' },
  { name: 'SET ROLE', sql: 'SET ROLE postgres', expect: 'forbidden', why: RO, server: 'undone' },
  { name: 'RESET ROLE', sql: 'RESET ROLE', expect: 'forbidden', why: RO, server: 'undone' },
  {
    name: 'SET SESSION AUTHORIZATION',
    sql: 'SET SESSION AUTHORIZATION postgres',
    expect: 'forbidden',
    why: RO,
    server: 'undone',
  },
  {
    name: 'SET session_replication_role',
    sql: 'SET session_replication_role = replica',
    expect: 'forbidden',
    why: RO,
    server: 'undone',
  },

  // ---- settings that change how the server reads SQL ----
  {
    name: 'SET standard_conforming_strings',
    sql: 'SET standard_conforming_strings = off',
    expect: 'forbidden',
    why: READS_SQL,
    server: 'unsafe',
  },
  {
    name: 'standard_conforming_strings off, then a call hidden in a string',
    sql: String.raw`SET standard_conforming_strings = off; SELECT 'x\' , ' , pg_advisory_lock(42) -- '`,
    expect: 'forbidden',
    why: /statement 1 \(SET\).*how the server reads the SQL/,
    server: 'unsafe',
  },
  {
    name: 'SET client_encoding',
    sql: "SET client_encoding = 'SJIS'",
    expect: 'forbidden',
    why: READS_SQL,
    server: 'unsafe',
  },
  {
    name: 'SJIS client encoding, then a call hidden in a string',
    sql: String.raw`SET NAMES 'SJIS'; SELECT E'Ё\' , pg_advisory_lock(45) -- '`,
    expect: 'forbidden',
    why: READS_SQL,
    server: 'unsafe',
  },
  {
    name: 'set_config of standard_conforming_strings',
    sql: "SELECT set_config('standard_conforming_strings', 'off', false)",
    expect: 'forbidden',
    why: READS_SQL,
    server: 'unsafe',
  },

  // ---- server and session operations ----
  { name: 'DISCARD ALL', sql: 'DISCARD ALL', expect: 'forbidden', why: /DISCARD/, server: 'refuses' },
  { name: 'VACUUM', sql: 'VACUUM', expect: 'forbidden', why: /VACUUM/, server: 'refuses' },
  {
    name: 'VACUUM FULL a table',
    sql: 'VACUUM (FULL, ANALYZE) t',
    expect: 'forbidden',
    why: /VACUUM/,
    server: 'unsafe',
  },
  { name: 'ANALYZE', sql: 'ANALYZE t', expect: 'forbidden', why: /ANALYZE/, server: 'unsafe' },
  { name: 'CHECKPOINT', sql: 'CHECKPOINT', expect: 'forbidden', why: /server operation/, server: 'unsafe' },
  { name: 'REINDEX', sql: 'REINDEX TABLE t', expect: 'forbidden', why: /REINDEX/, server: 'unsafe' },
  { name: 'LOAD', sql: "LOAD 'auto_explain'", expect: 'forbidden', why: /shared library/, server: 'unsafe' },
  {
    name: 'ALTER SYSTEM',
    sql: "ALTER SYSTEM SET default_transaction_read_only = 'off'",
    expect: 'forbidden',
    why: /server configuration/,
    server: 'unsafe',
  },
  {
    name: 'CREATE DATABASE',
    sql: 'CREATE DATABASE coderdb_x',
    expect: 'forbidden',
    why: /DATABASE/,
    server: 'unsafe',
  },
  {
    name: 'DROP DATABASE',
    sql: 'DROP DATABASE coder',
    expect: 'forbidden',
    why: /DATABASE/,
    server: 'unsafe',
  },
  { name: 'NOTIFY', sql: "NOTIFY coderdb_test, 'x'", expect: 'write', why: /NOTIFY/, server: 'undone' },

  // ---- DDL ----
  {
    name: 'CREATE TABLE',
    sql: 'CREATE TABLE coderdb_x (id int)',
    expect: 'write',
    why: /changes the schema/,
  },
  { name: 'CREATE TEMP TABLE', sql: 'CREATE TEMP TABLE coderdb_x (id int)', expect: 'write' },
  { name: 'DROP TABLE', sql: 'DROP TABLE users CASCADE', expect: 'write', why: /DROP TABLE/ },
  { name: 'ALTER TABLE', sql: 'ALTER TABLE users ADD COLUMN x int', expect: 'write' },
  { name: 'ALTER TABLE RENAME', sql: 'ALTER TABLE t RENAME TO t_old', expect: 'write' },
  { name: 'CREATE INDEX', sql: 'CREATE INDEX ON users (name)', expect: 'write' },
  {
    name: 'CREATE INDEX CONCURRENTLY',
    sql: 'CREATE INDEX CONCURRENTLY coderdb_i ON users (email)',
    expect: 'write',
  },
  { name: 'CREATE VIEW', sql: 'CREATE OR REPLACE VIEW v_users AS SELECT 1 AS id', expect: 'write' },
  { name: 'CREATE SCHEMA', sql: 'CREATE SCHEMA coderdb_s', expect: 'write' },
  {
    name: 'CREATE FUNCTION',
    sql: 'CREATE FUNCTION coderdb_f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$',
    expect: 'write',
  },
  { name: 'DROP FUNCTION', sql: 'DROP FUNCTION bump()', expect: 'write' },
  {
    name: 'CREATE TRIGGER',
    sql: 'CREATE TRIGGER coderdb_tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()',
    expect: 'write',
  },
  { name: 'CREATE RULE', sql: 'CREATE RULE coderdb_r AS ON SELECT TO t DO INSTEAD NOTHING', expect: 'write' },
  { name: 'ALTER SEQUENCE', sql: 'ALTER SEQUENCE s RESTART WITH 1', expect: 'write' },
  { name: 'CREATE TYPE', sql: "CREATE TYPE coderdb_e AS ENUM ('a')", expect: 'write' },
  { name: 'CREATE ROLE', sql: "CREATE ROLE coderdb_r LOGIN PASSWORD 'hunter2'", expect: 'write' },
  { name: 'ALTER ROLE PASSWORD', sql: "ALTER ROLE postgres PASSWORD 'hunter2'", expect: 'write' },
  { name: 'CREATE POLICY', sql: 'CREATE POLICY coderdb_p ON t USING (true)', expect: 'write' },
  { name: 'CREATE EXTENSION', sql: 'CREATE EXTENSION IF NOT EXISTS dblink', expect: 'write' },
  { name: 'DROP EXTENSION', sql: 'DROP EXTENSION plpgsql CASCADE', expect: 'write' },
  {
    name: 'IMPORT FOREIGN SCHEMA',
    sql: 'IMPORT FOREIGN SCHEMA public FROM SERVER nowhere INTO public',
    expect: 'write',
  },
  { name: 'CREATE TABLE AS', sql: 'CREATE TABLE coderdb_x AS SELECT * FROM users', expect: 'write' },
  {
    name: 'CREATE MATERIALIZED VIEW',
    sql: 'CREATE MATERIALIZED VIEW coderdb_mv AS SELECT 1',
    expect: 'write',
  },
  { name: 'REFRESH MATERIALIZED VIEW', sql: 'REFRESH MATERIALIZED VIEW mv', expect: 'write' },
  { name: 'GRANT', sql: 'GRANT ALL ON t TO PUBLIC', expect: 'write' },
  { name: 'REVOKE', sql: 'REVOKE SELECT ON users FROM PUBLIC', expect: 'write' },
  { name: 'SECURITY LABEL', sql: "SECURITY LABEL ON TABLE t IS 'secret'", expect: 'write' },
  { name: 'COMMENT ON', sql: "COMMENT ON TABLE t IS 'x'", expect: 'write' },
  {
    name: 'ALTER DATABASE SET',
    sql: 'ALTER DATABASE coder SET default_transaction_read_only = off',
    expect: 'write',
  },
  {
    name: 'ALTER ROLE SET',
    sql: 'ALTER ROLE postgres SET standard_conforming_strings = off',
    expect: 'write',
  },
  {
    name: 'ALTER DEFAULT PRIVILEGES',
    sql: 'ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC',
    expect: 'write',
  },
  // PostgreSQL lets CLUSTER rewrite a table in a READ ONLY transaction (the rows stay the same).
  { name: 'CLUSTER', sql: 'CLUSTER t USING t_pkey', expect: 'write', server: 'undone' },
  { name: 'CREATE PUBLICATION', sql: 'CREATE PUBLICATION coderdb_pub FOR ALL TABLES', expect: 'write' },

  // ---- not SQL coderdb can send ----
  { name: 'empty', sql: '', expect: 'usage', code: 'sql.empty' },
  { name: 'only white space', sql: ' \n\t\n ', expect: 'usage', code: 'sql.empty' },
  { name: 'only semicolons', sql: ';;;', expect: 'usage', code: 'sql.empty' },
  { name: 'only a line comment', sql: '-- DELETE FROM t', expect: 'usage', code: 'sql.empty' },
  { name: 'only a block comment', sql: '/* DELETE FROM t; */', expect: 'usage', code: 'sql.empty' },
  { name: 'NUL byte', sql: 'SELECT 1\0; DELETE FROM t', expect: 'usage', code: 'sql.nul-byte' },
  { name: 'NUL byte in a string', sql: "SELECT 'a\0b'", expect: 'usage', code: 'sql.nul-byte' },
  { name: 'lone high surrogate', sql: "SELECT '\ud800'", expect: 'usage', code: 'sql.encoding' },
  { name: 'lone low surrogate', sql: "SELECT 'x\udc00y'", expect: 'usage', code: 'sql.encoding' },
  { name: 'psql meta-command', sql: '\\d users', expect: 'usage', code: 'sql.syntax' },
  { name: 'psql \\copy', sql: "\\copy t to '/tmp/x'", expect: 'usage', code: 'sql.syntax' },
  { name: 'psql shell escape', sql: 'SELECT 1;\n\\! rm -rf /', expect: 'usage', code: 'sql.syntax' },
  { name: 'trailing garbage', sql: 'SELECT 1 garbage garbage', expect: 'usage', code: 'sql.syntax' },
  { name: 'garbage statement after a read', sql: 'SELECT 1; garbage', expect: 'usage', code: 'sql.syntax' },
  { name: 'unbalanced parenthesis', sql: 'SELECT 1)', expect: 'usage', code: 'sql.syntax' },
  { name: 'comment inside a keyword', sql: 'DEL/**/ETE FROM t', expect: 'usage', code: 'sql.syntax' },
  { name: 'unterminated string', sql: "SELECT 'abc; DELETE FROM t", expect: 'usage', code: 'sql.syntax' },
  {
    name: 'unterminated dollar quote',
    sql: 'SELECT $x$ abc; DELETE FROM t',
    expect: 'usage',
    code: 'sql.syntax',
  },
  { name: 'unterminated comment', sql: 'SELECT 1 /* DELETE FROM t', expect: 'usage', code: 'sql.syntax' },
  {
    name: 'unterminated nested comment',
    sql: 'SELECT 1 /* a /* b */ DELETE FROM t',
    expect: 'usage',
    code: 'sql.syntax',
  },
  { name: 'byte order mark', sql: '\ufeffSELECT 1', expect: 'usage', code: 'sql.syntax' },
  { name: 'invalid unicode escape', sql: String.raw`SELECT U&'\0000'`, expect: 'usage', code: 'sql.syntax' },
  {
    name: 'deeper than the parser stack (parentheses)',
    sql: `SELECT ${deep('(', '1', ')', 20_000)}`,
    expect: 'usage',
    code: 'sql.syntax',
  },
  {
    name: 'deeper than the WebAssembly stack (chained additions)',
    sql: `SELECT 1${' + 1'.repeat(30_000)}`,
    expect: 'usage',
    code: 'sql.too-deep',
  },
  {
    name: 'larger than 16 MiB',
    sql: `SELECT '${'z'.repeat(16 * MiB)}'`,
    expect: 'usage',
    code: 'sql.too-large',
  },
];
