// The function-catalog layer: before a read runs, the live server's own catalog says which functions
// the statements can reach (src/sql/functions.ts lists every name through which they can), and
// volatile ones are refused unless they are on a short, reviewed allow-list. It cannot go stale:
// a function added by a new PostgreSQL release, an extension or a user is judged by what the
// catalog says about it (`provolatile`), not by a list coderdb would have to keep up to date.

import { refusedError } from '../core/errors.js';
import { isEmpty, type QualifiedName, reachableNames } from '../sql/functions.js';
import type { AnalyzedStatement } from '../sql/guard.js';
import { quoteLiteral } from '../sql/literal.js';
import type { Db } from './db.js';

/**
 * Volatile functions of pg_catalog that only read (or wait): a volatile mark means "may give a
 * different answer each call", which is true of these without their changing anything. Reviewed
 * against PostgreSQL 15 and PGlite's PostgreSQL; functions that read server files (pg_hba_file_rules,
 * pg_current_logfile …) are not here, nor any that signal, lock, write or run SQL text.
 */
export const VOLATILE_READS = [
  'random',
  'random_normal',
  'setseed',
  'clock_timestamp',
  'timeofday',
  'gen_random_uuid',
  'uuidv4',
  'uuidv7',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
  'currval',
  'lastval',
  'current_query',
  'lo_get',
  'cursor_to_xml',
  'cursor_to_xmlschema',
  'pg_sequence_last_value',
  'pg_database_size',
  'pg_relation_size',
  'pg_table_size',
  'pg_indexes_size',
  'pg_total_relation_size',
  'pg_tablespace_size',
  'pg_partition_tree',
  'pg_partition_ancestors',
  'pg_is_in_recovery',
  'pg_jit_available',
  'pg_blocking_pids',
  'pg_safe_snapshot_blocking_pids',
  'pg_lock_status',
  'pg_prepared_xact',
  'pg_notification_queue_usage',
  'pg_current_wal_lsn',
  'pg_current_wal_insert_lsn',
  'pg_current_wal_flush_lsn',
  'pg_last_wal_receive_lsn',
  'pg_last_wal_replay_lsn',
  'pg_last_xact_replay_timestamp',
  'pg_last_committed_xact',
  'pg_is_wal_replay_paused',
  'pg_get_wal_replay_pause_state',
  'pg_xact_commit_timestamp',
  'pg_xact_commit_timestamp_origin',
  'pg_xact_status',
  'txid_status',
  'pg_control_checkpoint',
  'pg_control_init',
  'pg_control_recovery',
  'pg_control_system',
  'pg_stat_have_stats',
  'pg_stat_clear_snapshot',
  'pg_collation_actual_version',
  'pg_database_collation_actual_version',
  'pg_get_backend_memory_contexts',
  'pg_get_shmem_allocations',
  'pg_get_multixact_members',
  'pg_get_wal_resource_managers',
  'pg_show_replication_origin_status',
  'pg_replication_origin_session_is_setup',
  // PostgreSQL 17 and 18 (PGlite).
  'array_sample',
  'array_shuffle',
  'pg_get_wait_events',
  'pg_get_loaded_modules',
  'pg_stat_get_io',
  'pg_stat_get_backend_io',
  'pg_stat_get_backend_wal',
] as const;

/** Functions reached only through a relation (a system view) are PostgreSQL's own, not the SQL's. */
const SYSTEM_SCHEMAS = ['pg_catalog', 'information_schema'];

export interface VolatileReach {
  /** 1-based index of the statement in the batch. */
  statement: number;
  /** How the SQL reaches it: call, attribute notation, operator, cast, relation. */
  how: string;
  /** The name in the SQL it is reached through. */
  via: string;
  /** The function, e.g. `pg_catalog.pg_terminate_backend(integer)`. */
  fn: string;
  /** Volatile; otherwise a user function whose body the catalog cannot see into. */
  volatile: boolean;
}

/**
 * Refuses the batch when any statement can reach a volatile function off the allow-list, naming
 * the first. One catalog query for the whole batch, in the read session, before any statement.
 */
export async function enforceFunctionCatalog(db: Db, statements: AnalyzedStatement[]): Promise<void> {
  const query = reachQuery(statements);
  if (!query) return;
  const [first] = await db.objects<VolatileReach>(query);
  if (!first) return;
  const label =
    statements.length > 1
      ? `statement ${first.statement} (${statements[first.statement - 1]?.command ?? 'SQL'})`
      : (statements[0]?.command ?? 'SQL');
  throw refusedError(
    'function-catalog.volatile',
    `refused ${label}: ${describeReach(first)}, ${first.volatile ? 'a volatile function' : 'a user function whose body the catalog cannot see into (it may call anything, whatever its volatility says)'}, and this session is read-only`,
    {
      hint: 'volatile functions can change the database or the server; add --write to plan the change, or call a stable one',
    },
  );
}

function describeReach(reach: VolatileReach): string {
  switch (reach.how) {
    case 'call':
      return `it calls ${reach.fn}`;
    case 'attribute':
      return `.${reach.via} can call ${reach.fn}`;
    case 'operator':
      return `operator ${reach.via} calls ${reach.fn}`;
    case 'type':
      return `a cast to ${reach.via} calls ${reach.fn}`;
    default:
      return `${reach.via} runs ${reach.fn}`;
  }
}

type Row = [number, string | undefined, string];

const lit = (value: string | number | undefined) =>
  value === undefined
    ? 'NULL::text'
    : typeof value === 'number'
      ? String(value)
      : `${quoteLiteral(value)}::text`;

function values(rows: Row[]): string {
  // A row that matches nothing keeps every VALUES list non-empty and typed.
  const all: Row[] = rows.length ? rows : [[0, undefined, '']];
  return `VALUES ${all.map(([statement, schema, name]) => `(${statement}, ${lit(schema)}, ${lit(name)})`).join(', ')}`;
}

/** The catalog query for a batch, or undefined when no statement can reach any function. */
export function reachQuery(statements: AnalyzedStatement[]): string | undefined {
  const rows: Record<'calls' | 'attributes' | 'operators' | 'types' | 'relations', Row[]> = {
    calls: [],
    attributes: [],
    operators: [],
    types: [],
    relations: [],
  };
  for (const statement of statements) {
    const names = reachableNames(statement.type, statement.node);
    if (isEmpty(names)) continue;
    const number = statement.index + 1;
    const push = (kind: keyof typeof rows, list: QualifiedName[]) => {
      for (const { schema, name } of list) rows[kind].push([number, schema, name]);
    };
    push('calls', names.calls);
    push(
      'attributes',
      names.attributes.map((name) => ({ name })),
    );
    push('operators', names.operators);
    push('types', names.types);
    push('relations', names.relations);
  }
  if (Object.values(rows).every((list) => list.length === 0)) return undefined;
  const allowed = `ARRAY[${VOLATILE_READS.map((name) => quoteLiteral(name)).join(', ')}]::text[]`;
  const system = `ARRAY[${SYSTEM_SCHEMAS.map((name) => quoteLiteral(name)).join(', ')}]::text[]`;
  // Every candidate, in any schema when the SQL names none (the search path can reach any), with
  // every overload (the argument types that pick one are known only when the statement is
  // planned). Through relations: the functions and operators of views' queries and of row-level
  // security policies, following views over views, and of the bodies of user functions that
  // record what they call (BEGIN ATOMIC). A user function in a procedural language (or SQL with a
  // body in a string) records nothing: PostgreSQL lets it be declared STABLE and still SELECT
  // pg_terminate_backend(…), so it is refused whatever its volatility (extensions' functions are
  // judged by their volatility).
  return `WITH RECURSIVE
  calls(statement, schema, name) AS (${values(rows.calls)}),
  attributes(statement, schema, name) AS (${values(rows.attributes)}),
  operators(statement, schema, name) AS (${values(rows.operators)}),
  types(statement, schema, name) AS (${values(rows.types)}),
  relations(statement, schema, name) AS (${values(rows.relations)}),
  direct(statement, how, via, fn) AS (
    SELECT c.statement, 'call', c.name, p.oid FROM calls c
      JOIN pg_catalog.pg_proc p ON p.proname = c.name
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace AND (c.schema IS NULL OR n.nspname = c.schema)
    UNION ALL
    SELECT a.statement, 'attribute', a.name, p.oid FROM attributes a
      JOIN pg_catalog.pg_proc p ON p.proname = a.name
      WHERE p.pronargs >= 1 AND (p.pronargs - p.pronargdefaults <= 1 OR p.provariadic <> 0)
    UNION ALL
    SELECT o.statement, 'operator', o.name, op.oprcode FROM operators o
      JOIN pg_catalog.pg_operator op ON op.oprname = o.name
      JOIN pg_catalog.pg_namespace n ON n.oid = op.oprnamespace AND (o.schema IS NULL OR n.nspname = o.schema)
    UNION ALL
    SELECT t.statement, 'type', t.name, f.fn FROM types t
      JOIN pg_catalog.pg_type ty ON ty.typname = t.name
      JOIN pg_catalog.pg_namespace n ON n.oid = ty.typnamespace AND (t.schema IS NULL OR n.nspname = t.schema)
      CROSS JOIN LATERAL (
        SELECT ty.typinput UNION ALL SELECT ty.typreceive
        UNION ALL SELECT c.castfunc FROM pg_catalog.pg_cast c WHERE c.casttarget = ty.oid
        UNION ALL SELECT d.refobjid FROM pg_catalog.pg_constraint k
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::regclass AND d.objid = k.oid
            AND d.refclassid = 'pg_catalog.pg_proc'::regclass
          WHERE k.contypid = ty.oid
      ) AS f(fn)
  ),
  reached(statement, via, classid, objid, depth) AS (
    SELECT r.statement, r.name, 'pg_catalog.pg_class'::regclass::oid, c.oid, 0 FROM relations r
      JOIN pg_catalog.pg_class c ON c.relname = r.name
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND (r.schema IS NULL OR n.nspname = r.schema)
      WHERE n.nspname <> ALL(${system})
    UNION
    SELECT d.statement, d.via, 'pg_catalog.pg_proc'::regclass::oid, d.fn::oid, 0 FROM direct d
    UNION
    SELECT x.statement, x.via, dep.refclassid, dep.refobjid, x.depth + 1 FROM reached x
      CROSS JOIN LATERAL (
        SELECT dp.refclassid, dp.refobjid FROM pg_catalog.pg_depend dp
          JOIN pg_catalog.pg_rewrite rw ON dp.classid = 'pg_catalog.pg_rewrite'::regclass AND dp.objid = rw.oid
          WHERE x.classid = 'pg_catalog.pg_class'::regclass AND rw.ev_class = x.objid
        UNION ALL
        SELECT dp.refclassid, dp.refobjid FROM pg_catalog.pg_depend dp
          JOIN pg_catalog.pg_policy po ON dp.classid = 'pg_catalog.pg_policy'::regclass AND dp.objid = po.oid
          WHERE x.classid = 'pg_catalog.pg_class'::regclass AND po.polrelid = x.objid
        UNION ALL
        SELECT 'pg_catalog.pg_proc'::regclass::oid, op.oprcode::oid FROM pg_catalog.pg_operator op
          WHERE x.classid = 'pg_catalog.pg_operator'::regclass AND op.oid = x.objid
        UNION ALL
        SELECT dp.refclassid, dp.refobjid FROM pg_catalog.pg_depend dp
          JOIN pg_catalog.pg_proc p ON p.oid = dp.objid
          JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          WHERE x.classid = 'pg_catalog.pg_proc'::regclass AND dp.classid = 'pg_catalog.pg_proc'::regclass
            AND dp.objid = x.objid AND n.nspname <> ALL(${system})
      ) AS dep
      WHERE x.depth < 16
  )
SELECT DISTINCT ON (x.statement) x.statement, COALESCE(d.how, 'relation') AS how, x.via,
    n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS fn,
    p.provolatile = 'v' AS volatile
  FROM reached x
  JOIN pg_catalog.pg_proc p ON x.classid = 'pg_catalog.pg_proc'::regclass AND p.oid = x.objid
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
  LEFT JOIN direct d ON x.depth = 0 AND d.statement = x.statement AND d.fn = p.oid AND d.via = x.via
  WHERE (p.provolatile = 'v' AND NOT (n.nspname = 'pg_catalog' AND p.proname = ANY(${allowed})))
    OR (n.nspname <> ALL(${system}) AND l.lanname NOT IN ('internal', 'c')
      AND pg_catalog.to_jsonb(p) ->> 'prosqlbody' IS NULL
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_catalog.pg_proc'::regclass
        AND e.objid = p.oid AND e.deptype = 'e'))
  ORDER BY x.statement, x.depth, fn`;
}
