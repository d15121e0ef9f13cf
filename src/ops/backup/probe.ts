// What backup and restore need to know about a database before they touch it, in one read-only
// query that returns JSON: server version, name, whether it is empty (and whether it holds Coder's
// tables), per-table row estimates; and, after a restore, exact row counts. The same SQL runs over
// node-postgres (direct, tunnel) and through psql inside the container (exec), so both paths agree.

import { CoderdbError } from '../../core/errors.js';
import type { Context } from '../db.js';
import { Db } from '../db.js';
import type { TableEstimate } from './types.js';

const USER_NAMESPACE =
  "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'";
/** Objects an extension created (PostGIS's spatial_ref_sys …) do not make a database non-empty. */
const NOT_EXTENSION_MEMBER =
  "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')";
const CODER_MARKERS = ['schema_migrations', 'users', 'workspaces', 'templates', 'organizations'];

export const PROBE_SQL = `SELECT json_build_object(
  'versionNum', current_setting('server_version_num')::int,
  'version', current_setting('server_version'),
  'banner', version(),
  'database', current_database(),
  'sizeBytes', pg_database_size(current_database()),
  'role', current_user,
  'superuser', (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
  'relations', (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${USER_NAMESPACE} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${NOT_EXTENSION_MEMBER}),
  'coderTables', (SELECT coalesce(json_agg(c.relname ORDER BY c.relname), '[]'::json)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND c.relname IN (${CODER_MARKERS.map((name) => `'${name}'`).join(', ')})),
  'tables', (SELECT coalesce(json_agg(json_build_object('schema', n.nspname, 'name', c.relname,
       'rows', CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END)
       ORDER BY n.nspname, c.relname), '[]'::json)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ${USER_NAMESPACE} AND c.relkind IN ('r', 'p') AND ${NOT_EXTENSION_MEMBER})
)::text`;

/** Exact row counts of every user table, one statement (query_to_xml runs each count). */
export const COUNT_SQL = `SELECT coalesce(json_agg(json_build_object('schema', n.nspname, 'name', c.relname,
  'rows', substring(query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
     false, true, '')::text FROM '<c>([0-9]+)</c>')::bigint) ORDER BY n.nspname, c.relname), '[]'::json)::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ${USER_NAMESPACE} AND c.relkind = 'r' AND ${NOT_EXTENSION_MEMBER}`;

/** psql in the container has no read-only session of its own; this makes it one. */
export const READ_ONLY_PREFIX = 'SET default_transaction_read_only = on;\n';

export interface DatabaseFacts {
  versionNum: number;
  version: string;
  database: string;
  /** The role coderdb connects as: an archive's SQL runs with its rights. */
  role: string;
  superuser: boolean;
  /** PGlite (the sandbox's default engine) cannot take a pg_restore; see restore.ts. */
  pglite: boolean;
  /** User tables, views, sequences … (0 = an empty database). */
  relations: number;
  /** pg_database_size: what a backup's progress estimates its total from (undefined: unknown). */
  sizeBytes?: number;
  /** Which of Coder's landmark tables exist. */
  coderTables: string[];
  tables: TableEstimate[];
}

export interface TableCount {
  schema: string;
  name: string;
  rows: number;
}

export function parseFacts(json: string): DatabaseFacts {
  const raw = parseJson(json, 'database probe') as {
    versionNum: number;
    version: string;
    banner: string;
    database: string;
    role?: string;
    superuser?: boolean;
    relations: number;
    sizeBytes?: number | string | null;
    coderTables: string[];
    tables: { schema: string; name: string; rows: number | string | null }[];
  };
  return {
    versionNum: Number(raw.versionNum),
    version: String(raw.version),
    database: String(raw.database),
    role: String(raw.role ?? ''),
    superuser: raw.superuser === true,
    pglite: /pglite/i.test(String(raw.banner)),
    relations: Number(raw.relations),
    ...(raw.sizeBytes == null || !(Number(raw.sizeBytes) > 0) ? {} : { sizeBytes: Number(raw.sizeBytes) }),
    coderTables: raw.coderTables ?? [],
    tables: (raw.tables ?? []).map((table) => ({
      schema: table.schema,
      name: table.name,
      rows: table.rows === null ? null : Number(table.rows),
    })),
  };
}

export function parseCounts(json: string): TableCount[] {
  const raw = parseJson(json, 'row count') as { schema: string; name: string; rows: number | string }[];
  return raw.map((table) => ({ schema: table.schema, name: table.name, rows: Number(table.rows) }));
}

/** The probe over a transport session (node-postgres, or anything the context's transport is). */
export async function probeDatabase(context: Context): Promise<DatabaseFacts> {
  return parseFacts(await scalar(context, PROBE_SQL));
}

export async function countRows(context: Context): Promise<TableCount[]> {
  return parseCounts(await scalar(context, COUNT_SQL));
}

async function scalar(context: Context, sql: string): Promise<string> {
  const db = await Db.begin(context, 'read', 'coderdb backup');
  try {
    const result = await db.all(sql);
    const value = result.rows[0]?.[0];
    if (typeof value !== 'string') {
      throw new CoderdbError('internal', 'backup.probe-empty', 'the database probe returned nothing');
    }
    return value;
  } finally {
    await db.close();
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text.trim());
  } catch {
    throw new CoderdbError(
      'internal',
      'backup.probe-invalid',
      `the ${what} returned something that is not JSON`,
    );
  }
}
