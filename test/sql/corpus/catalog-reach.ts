// What only the live catalog knows: which functions a name reaches. User functions (volatile, or in
// a language whose body records nothing), views and policies over them, operators, domains and
// casts that call them, and the allow-listed volatile functions that only read.

import type { GuardCase } from '../cases.js';

const REFUSED: [string, string][] = [
  ['a volatile user function', 'SELECT bump()'],
  ['a volatile user function in FROM', 'SELECT * FROM bump()'],
  ['a volatile user function in WHERE', 'SELECT id FROM t WHERE bump() > 0'],
  ['a volatile user function quoted', 'SELECT "bump"()'],
  ['a volatile user function in a never-taken branch', 'SELECT CASE WHEN false THEN bump() END'],
  ['a volatile user function in a CTE', 'WITH b AS (SELECT bump() AS n) SELECT n FROM b'],
  ['a volatile user function in a lateral join', 'SELECT * FROM t, LATERAL (SELECT bump()) AS b'],
  ['a volatile user function under EXPLAIN ANALYZE', 'EXPLAIN ANALYZE SELECT bump()'],
  ['a plpgsql function that deletes', 'SELECT wipe()'],
  ['a plpgsql function that deletes, in COPY', 'COPY (SELECT wipe()) TO STDOUT'],
  ['a stable function whose body is opaque text', 'SELECT liar()'],
  ['an opaque function in a subquery', 'SELECT (SELECT liar())'],
  ['a view over a volatile function', 'SELECT * FROM v_bump'],
  ['a view over a view over a volatile function', 'SELECT n FROM v_over_bump'],
  ['a view over a volatile function in a join', 'SELECT * FROM t JOIN v_bump ON true'],
  ['a table whose policy calls a volatile function', 'SELECT * FROM secured'],
  ['an operator whose function is volatile', 'SELECT 1 === 2'],
  ['an operator in WHERE', 'SELECT id FROM t WHERE id === 1'],
  ['an operator spelled OPERATOR()', 'SELECT 1 OPERATOR(===) 2'],
  ['an operator in a join condition', 'SELECT * FROM t AS a JOIN t AS b ON a.id === b.id'],
  ['an operator with ANY', 'SELECT 1 === ANY (ARRAY[1, 2])'],
  ['a cast to a domain whose check calls a volatile function', 'SELECT 1::d_bump'],
  ['CAST AS a domain', 'SELECT CAST(1 AS d_bump)'],
  ['a whole-row call of a volatile user function', 'SELECT t.row_bump FROM t'],
  ['attribute notation on a row value', 'SELECT (t).row_bump FROM t'],
  ['a volatile user function as an argument of an allowed one', 'SELECT pg_sleep(bump() * 0)'],
  ['a volatile user function in ORDER BY', 'SELECT id FROM t ORDER BY bump()'],
  ['a volatile user function in a cursor', 'DECLARE c CURSOR FOR SELECT bump(); FETCH 1 FROM c'],
  ['a volatile built-in the guard does not list', 'SELECT pg_stat_force_next_flush()'],
  [
    'a volatile built-in through attribute notation',
    "SELECT ('t'::regclass::oid).pg_stat_get_xact_numscans IS NOT NULL",
  ],
];

const ALLOWED = [
  // Known limit: PostgreSQL records no dependency on built-in functions (they are pinned), so what a
  // user view or a BEGIN ATOMIC function calls of them is not seen; these take a session lock that
  // ends with the session.
  'SELECT atomic_liar()',
  'SELECT * FROM v_liar',
  'SELECT random() >= 0',
  'SELECT clock_timestamp() IS NOT NULL',
  'SELECT gen_random_uuid() IS NOT NULL',
  'SELECT pg_sleep(0)',
  "SELECT currval('s')",
  'SELECT timeofday() IS NOT NULL',
  'SELECT pg_size_pretty(pg_database_size(current_database())) IS NOT NULL',
  "SELECT pg_total_relation_size('t') > 0",
  'SELECT harmless(1)',
  'SELECT t.id FROM t WHERE harmless(t.id) > 1',
  'SELECT 1 = 1, 2 < 3, 1 BETWEEN 0 AND 2',
  'SELECT count(*) FROM pg_stat_activity',
  'SELECT count(*) FROM pg_locks',
  'SELECT pg_is_in_recovery()',
  "SELECT 'x'::text::varchar(3), 1::bigint, '2020-01-01'::date",
  'SELECT * FROM v_users WHERE id < 3',
  'SELECT n FROM mv',
  'SELECT lo_get(oid) IS NOT NULL FROM pg_largeobject_metadata',
  'SELECT current_query() IS NOT NULL',
  'SELECT pg_current_wal_lsn() IS NOT NULL',
];

export const CATALOG_REACH: GuardCase[] = [
  ...REFUSED.map(
    ([name, sql]): GuardCase => ({
      name: `catalog: ${name}`,
      sql,
      expect: 'read',
      catalog: true,
    }),
  ),
  ...ALLOWED.map(
    (sql, index): GuardCase => ({
      name: `catalog: allowed ${index + 1}: ${sql.slice(0, 50)}`,
      sql,
      expect: 'read',
    }),
  ),
];
