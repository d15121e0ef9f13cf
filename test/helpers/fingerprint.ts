// A fingerprint of everything a statement could change in a database: every table's rows, every
// sequence, large objects, the catalog and the settings a new session starts with. Safety tests take
// one before and after and compare them, instead of trusting the guard's own verdict.

import pg from 'pg';

/** Server files hostile inputs name as targets; the fingerprint checks that none appears. */
export const FILE_TARGETS = ['/tmp/coderdb-guard-test', '/tmp/coderdb-pwned', '/tmp/coderdb-corpus-out'];

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'`;

const CATALOG: [string, string][] = [
  [
    'relations',
    `SELECT n.nspname, c.relname, c.relkind, c.relacl::text AS acl, c.relrowsecurity
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE ${USER_SCHEMAS} ORDER BY 1, 2`,
  ],
  [
    'columns',
    `SELECT a.attrelid::regclass::text AS rel, a.attname, a.atttypid::regtype::text AS type
     FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE ${USER_SCHEMAS} AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2`,
  ],
  [
    'large objects',
    `SELECT m.oid::text, md5(string_agg(encode(l.data, 'hex'), '' ORDER BY l.pageno)) AS data
     FROM pg_catalog.pg_largeobject_metadata m LEFT JOIN pg_catalog.pg_largeobject l ON l.loid = m.oid
     GROUP BY m.oid ORDER BY 1`,
  ],
  [
    'settings of a new session',
    `SELECT name, setting FROM pg_catalog.pg_settings WHERE name IN ('default_transaction_read_only',
     'transaction_read_only', 'standard_conforming_strings', 'search_path', 'session_replication_role',
     'default_transaction_isolation', 'backslash_quote', 'statement_timeout') ORDER BY 1`,
  ],
  ['role and database settings', 'SELECT setconfig::text FROM pg_catalog.pg_db_role_setting ORDER BY 1'],
  [
    'postgresql.auto.conf',
    `SELECT name, setting FROM pg_catalog.pg_file_settings WHERE sourcefile LIKE '%auto.conf' ORDER BY 1`,
  ],
  [
    'roles',
    'SELECT rolname, rolsuper, rolcanlogin, rolpassword IS NULL AS nopw FROM pg_catalog.pg_authid ORDER BY 1',
  ],
  [
    'schemas',
    `SELECT n.nspname, n.nspacl::text FROM pg_catalog.pg_namespace n WHERE ${USER_SCHEMAS} ORDER BY 1`,
  ],
  [
    'functions',
    `SELECT p.oid::regprocedure::text AS name, md5(p.prosrc) AS source, p.proacl::text AS acl
     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE ${USER_SCHEMAS} ORDER BY 1`,
  ],
  [
    'types',
    `SELECT t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
     WHERE ${USER_SCHEMAS} ORDER BY 1`,
  ],
  [
    'triggers',
    'SELECT tgrelid::regclass::text, tgname FROM pg_catalog.pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2',
  ],
  ['rules', 'SELECT schemaname, tablename, rulename FROM pg_catalog.pg_rules ORDER BY 1, 2, 3'],
  ['policies', 'SELECT polrelid::regclass::text, polname FROM pg_catalog.pg_policy ORDER BY 1, 2'],
  ['extensions', 'SELECT extname, extversion FROM pg_catalog.pg_extension ORDER BY 1'],
  ['publications', 'SELECT pubname FROM pg_catalog.pg_publication ORDER BY 1'],
  [
    'comments',
    'SELECT objoid::text, objsubid, description FROM pg_catalog.pg_description WHERE objoid >= 16384 ORDER BY 1, 2',
  ],
  ['security labels', 'SELECT count(*) FROM pg_catalog.pg_seclabel'],
  [
    'default privileges',
    'SELECT defaclobjtype, defaclacl::text FROM pg_catalog.pg_default_acl ORDER BY 1, 2',
  ],
  ['collations', 'SELECT count(*) FROM pg_catalog.pg_collation'],
  ['databases', 'SELECT datname FROM pg_catalog.pg_database ORDER BY 1'],
  ['prepared transactions', 'SELECT gid FROM pg_catalog.pg_prepared_xacts ORDER BY 1'],
  ['replication slots', 'SELECT slot_name FROM pg_catalog.pg_replication_slots ORDER BY 1'],
  ['replication origins', 'SELECT roname FROM pg_catalog.pg_replication_origin ORDER BY 1'],
  // Statistics counters a read cannot move (scan counters it does), but a write, even one rolled
  // back, or a reset does; and when each kind of statistics was last reset.
  [
    'table statistics',
    `SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup FROM pg_catalog.pg_stat_user_tables
     ORDER BY 1`,
  ],
  [
    'statistics resets',
    `SELECT (SELECT stats_reset FROM pg_catalog.pg_stat_database WHERE datname = current_database())::text,
            (SELECT stats_reset FROM pg_catalog.pg_stat_bgwriter)::text,
            (SELECT stats_reset FROM pg_catalog.pg_stat_archiver)::text`,
  ],
  ['wal statistics reset', 'SELECT stats_reset::text FROM pg_catalog.pg_stat_wal'],
  ['slru statistics resets', 'SELECT name, stats_reset::text FROM pg_catalog.pg_stat_slru ORDER BY 1'],
  // Files: the top of the data directory (COPY … TO a relative name lands there), the slots'
  // directory, and the absolute paths the corpus names as targets.
  [
    'data directory',
    `SELECT name FROM pg_catalog.pg_ls_dir('.') AS name WHERE name NOT LIKE 'pgsql_tmp%' ORDER BY 1`,
  ],
  ['replication slot files', `SELECT name FROM pg_catalog.pg_ls_dir('pg_replslot') AS name ORDER BY 1`],
];

/** Every table's rows (md5, in order), every sequence's state, large objects, catalog and settings. */
export async function fingerprint(url: string, files = FILE_TARGETS): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    // A backend reports its table counters at most once a second: what it did just before (a
    // fixture's inserts, on PGlite's one shared backend) may still be pending, and would appear
    // only in a later fingerprint. PostgreSQL 15+ flushes everything pending as this goes idle.
    await client.query('SELECT pg_catalog.pg_stat_force_next_flush()').catch(() => undefined);
    await client.query('SELECT pg_catalog.pg_stat_clear_snapshot()').catch(() => undefined);
    const print: Record<string, string> = {};
    const take = async (key: string, sql: string) => {
      try {
        print[key] = JSON.stringify((await client.query({ text: sql, rowMode: 'array' })).rows);
      } catch (error) {
        print[key] = `error ${(error as { code?: string }).code ?? String(error)}`;
      }
    };
    // Names the catalog prints (regclass, regprocedure) depend on the search_path, which the
    // sandbox's PGlite shares between every connection: each is read under one fixed path, set
    // for its own transaction only.
    const takeQualified = async (key: string, sql: string) => {
      try {
        const results = (await client.query({
          text: `BEGIN; SET LOCAL search_path = pg_catalog; ${sql}; COMMIT`,
          rowMode: 'array',
        })) as unknown as pg.QueryArrayResult[];
        print[key] = JSON.stringify(results[2]!.rows);
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        print[key] = `error ${(error as { code?: string }).code ?? String(error)}`;
      }
    };
    const relations = await client.query<{ name: string; relkind: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.relkind
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE ${USER_SCHEMAS} AND c.relkind IN ('r', 'p', 'm', 'S') ORDER BY 1`,
    );
    for (const { name, relkind } of relations.rows) {
      if (relkind === 'S') await take(`sequence ${name}`, `SELECT last_value, is_called FROM ${name}`);
      else {
        await take(
          `rows of ${name}`,
          `SELECT count(*), md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM ${name} AS x`,
        );
      }
    }
    for (const [key, sql] of CATALOG) {
      await (key === 'settings of a new session' ? take(key, sql) : takeQualified(key, sql));
    }
    await take(
      'target files',
      `SELECT path, (pg_catalog.pg_stat_file(path, true)).size FROM unnest(ARRAY[${files.map((path) => `'${path}'`).join(', ')}]::text[]) AS path ORDER BY 1`,
    );
    return print;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The application name of the bystander session, which the corpus's hostile inputs aim at. */
export const BYSTANDER = 'coderdb-bystander';

export interface Bystander {
  /** Undefined while the session is alive and still answers as the same backend, else why not. */
  problem(): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Another session on the database, open while inputs run: none of them may end it. */
export async function openBystander(url: string): Promise<Bystander> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    application_name: BYSTANDER,
    query_timeout: 10_000,
  });
  let lost: string | undefined;
  client.on('error', (error) => {
    lost = error.message;
  });
  client.on('end', () => {
    lost ??= 'the connection ended';
  });
  await client.connect();
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  return {
    async problem() {
      if (lost) return `the bystander session was lost: ${lost}`;
      try {
        const now = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        return now === pid ? undefined : `the bystander now answers as backend ${now}, not ${pid}`;
      } catch (error) {
        return `the bystander session does not answer: ${(error as Error).message}`;
      }
    },
    close: () => client.end().catch(() => undefined),
  };
}

/**
 * The fingerprint for tests of the write path. A plan runs its statements and rolls them back,
 * and an undo writes the rows back: both move the tables' write counters by design, so those
 * counters are left out; everything else (every row, sequence, setting, slot, file) must match.
 */
export async function writeFingerprint(url: string, files = FILE_TARGETS): Promise<Record<string, string>> {
  const { 'table statistics': _counters, ...rest } = await fingerprint(url, files);
  return rest;
}
