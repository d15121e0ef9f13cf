// Inputs for features other layers own (redaction, plan/apply, all-rows detection, triggers). In
// read-only mode their outcome is simple: reads run (what they show is the redaction layer's
// business, tested there), anything that would change a row is refused, and the fingerprint does
// not move.

import type { GuardCase } from '../cases.js';

const REDACTION_READS = [
  'SELECT hashed_password FROM accounts',
  'SELECT hashed_password AS h FROM accounts',
  'SELECT encode(hashed_password, $$hex$$) FROM accounts',
  'SELECT upper(token) FROM accounts',
  'SELECT (SELECT token FROM accounts WHERE id = 1)',
  'WITH c AS (SELECT token AS x FROM accounts) SELECT x FROM c',
  'SELECT a FROM accounts AS a',
  'SELECT row_to_json(a) FROM accounts AS a',
  'SELECT to_jsonb(a.*) FROM accounts AS a',
  'SELECT a.* FROM accounts AS a',
  'SELECT * FROM accounts',
  'SELECT string_agg(token, $$,$$) FROM accounts',
  'SELECT array_agg(hashed_password) FROM accounts',
  'SELECT token || $$x$$ AS harmless FROM accounts',
  'SELECT CASE WHEN true THEN token END FROM accounts',
  'SELECT coalesce(token, login) FROM accounts',
  'SELECT json_build_object($$t$$, token) FROM accounts',
  'SELECT (a).token FROM accounts AS a',
  'SELECT x.token FROM (SELECT * FROM accounts) AS x',
  'SELECT token FROM accounts UNION ALL SELECT login FROM accounts',
  'TABLE accounts',
  'COPY accounts TO STDOUT',
  'COPY (SELECT token FROM accounts) TO STDOUT WITH (FORMAT csv)',
  'SELECT md5(token) FROM accounts',
  'SELECT length(hashed_password) FROM accounts',
];

const PLAN_APPLY_WRITES = [
  'UPDATE t SET v = random()::text WHERE id = 1',
  'DELETE FROM t WHERE random() < 0.5',
  'UPDATE t SET v = clock_timestamp()::text WHERE id = 2',
  "UPDATE t SET v = nextval('s')::text WHERE id = 1",
  "INSERT INTO t SELECT 100 + g, 'x' FROM generate_series(1, 3) AS g",
  "UPDATE t SET v = 'x' WHERE id = (SELECT max(id) FROM t)",
  'DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY random() LIMIT 1)',
  'UPDATE t SET v = gen_random_uuid()::text WHERE id = 3',
  "INSERT INTO events (note) VALUES ('x') RETURNING id",
  "UPDATE t SET v = v || 'x' WHERE id = 1 RETURNING *",
  "WITH u AS (UPDATE t SET v = 'x' WHERE id = 1 RETURNING *) SELECT * FROM u",
  "MERGE INTO t USING (SELECT 1 AS id) AS src ON t.id = src.id WHEN MATCHED THEN UPDATE SET v = 'y'",
  "INSERT INTO t VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = excluded.v || random()::text",
  'UPDATE t SET v = (SELECT name FROM users ORDER BY random() LIMIT 1) WHERE id = 1',
  "DELETE FROM t WHERE id = 1; INSERT INTO t VALUES (1, 'a')",
  'UPDATE t SET v = txid_current()::text WHERE id = 1',
  'UPDATE t SET v = pg_backend_pid()::text WHERE id = 1',
  'UPDATE t SET v = now()::text WHERE id = 1',
  'DELETE FROM t WHERE v = (SELECT v FROM t LIMIT 1)',
  "UPDATE users SET name = name || '' WHERE id % 2 = 0",
];

/** WHERE clauses that name a column of the target yet select every row. */
const DISGUISES = [
  'id = id',
  'id IS NOT NULL',
  'id > 0 OR true',
  'v = v OR v IS NULL',
  'coalesce(id, 0) = coalesce(id, 0)',
  't.id = t.id',
  'id IN (SELECT id FROM t)',
  'EXISTS (SELECT 1 FROM t AS x WHERE x.id = t.id)',
  'NOT (id IS NULL)',
  'id BETWEEN -2147483648 AND 2147483647',
  'id::text <> $$$$',
  'true AND id = id',
  '(id = id) IS NOT FALSE',
  'id = ANY (SELECT id FROM t)',
  'length(v) >= 0 OR v IS NULL',
];

const TRIGGER_WRITES = [
  "INSERT INTO audited VALUES (10, 'x')",
  "UPDATE audited SET v = 'x' WHERE id = 1",
  'DELETE FROM audited WHERE id = 2',
  'TRUNCATE audited',
  "INSERT INTO v_audited VALUES (11, 'y')",
  "UPDATE v_audited SET v = 'z' WHERE id = 1",
  "WITH w AS (INSERT INTO audited VALUES (12, 'w') RETURNING *) SELECT * FROM w",
  "INSERT INTO audited SELECT 20 + g, 'g' FROM generate_series(1, 5) AS g",
  'UPDATE audited SET v = v WHERE id = 1',
  'MERGE INTO audited AS a USING (SELECT 1 AS id) AS s ON a.id = s.id WHEN MATCHED THEN DELETE',
  'COPY audited FROM STDIN',
  "EXPLAIN ANALYZE INSERT INTO audited VALUES (13, 'e')",
  'ALTER TABLE audited DISABLE TRIGGER audited_row',
  'CREATE TRIGGER coderdb_x AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION audit_row()',
  'CREATE EVENT TRIGGER coderdb_e ON ddl_command_start EXECUTE FUNCTION audit_row()',
  'DROP TRIGGER audited_row ON audited',
];

const TRIGGER_READS = [
  'SELECT * FROM audited',
  'SELECT * FROM v_audited',
  'SELECT count(*) FROM audit_log',
  'COPY audited TO STDOUT',
  'SELECT * FROM audited FOR SHARE',
  'EXPLAIN INSERT INTO audited VALUES (14, $$e$$)',
  "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audited'::regclass",
];

export const REDACTION_FLOWS: GuardCase[] = REDACTION_READS.map((sql, index) => ({
  name: `redaction: read ${index + 1}: ${sql.slice(0, 50)}`,
  sql,
  expect: 'read',
  ...(sql.startsWith('COPY') ? { redaction: 'refuses' as const } : {}),
}));

export const PLAN_APPLY: GuardCase[] = PLAN_APPLY_WRITES.map((sql, index) => ({
  name: `plan/apply: ${index + 1}: ${sql.slice(0, 50)}`,
  sql,
  expect: 'write',
  withWrite: 'unchecked',
}));

export const ALL_ROWS: GuardCase[] = DISGUISES.flatMap((where, index): GuardCase[] => [
  {
    name: `all-rows: UPDATE WHERE ${where} (${index + 1})`,
    sql: `UPDATE t SET v = 'x' WHERE ${where}`,
    expect: 'write',
    withWrite: 'unchecked',
  },
  {
    name: `all-rows: DELETE WHERE ${where} (${index + 1})`,
    sql: `DELETE FROM t WHERE ${where}`,
    expect: 'write',
    withWrite: 'unchecked',
  },
]);

export const TRIGGERS: GuardCase[] = [
  ...TRIGGER_WRITES.map(
    (sql, index): GuardCase => ({
      name: `trigger: write ${index + 1}: ${sql.slice(0, 50)}`,
      sql,
      expect: sql.startsWith('COPY') ? 'forbidden' : 'write',
      withWrite: 'unchecked',
      server: sql.startsWith('COPY') ? 'unsafe' : 'refuses',
    }),
  ),
  ...TRIGGER_READS.map(
    (sql, index): GuardCase => ({
      name: `trigger: read ${index + 1}: ${sql.slice(0, 50)}`,
      sql,
      expect: sql.includes('FOR SHARE') ? 'write' : 'read',
    }),
  ),
];
