// Coder's schema changes from release to release (columns come and go: display_name, deprecated,
// users.name, job_status …). Operations read the live catalog once per session and build their SQL
// from the columns that exist, instead of hard-coding one release's layout.

import { CoderdbError } from '../../core/errors.js';
import { quoteLiteral } from '../../sql/literal.js';
import type { Db } from '../db.js';

export interface ColumnMeta {
  name: string;
  dataType: string;
  maxLength: number | null;
  nullable: boolean;
  generated: boolean;
}

export interface CoderSchema {
  /** Coder's migration number from schema_migrations, when the table exists. */
  migration: number | null;
  schema: string;
  has(table: string, column: string): boolean;
  column(table: string, column: string): ColumnMeta | undefined;
  tables(): string[];
}

const CODER_TABLES = [
  'organizations',
  'users',
  'templates',
  'template_versions',
  'workspaces',
  'workspace_builds',
  'provisioner_jobs',
  'organization_members',
];

const cache = new WeakMap<Db, Promise<CoderSchema>>();

/** The live layout, read once per session. */
export function loadCoderSchema(db: Db): Promise<CoderSchema> {
  let schema = cache.get(db);
  if (!schema) {
    schema = readCoderSchema(db);
    cache.set(db, schema);
  }
  return schema;
}

async function readCoderSchema(db: Db): Promise<CoderSchema> {
  const rows = await db.objects<{
    table_schema: string;
    table_name: string;
    column_name: string;
    data_type: string;
    max_length: number | null;
    nullable: boolean;
    generated: boolean;
  }>(
    `SELECT table_schema, table_name, column_name, data_type, character_maximum_length AS max_length,
            is_nullable = 'YES' AS nullable, is_generated = 'ALWAYS' AS generated
       FROM information_schema.columns
      WHERE table_schema = current_schema()
        AND table_name IN (${CODER_TABLES.map(quoteLiteral).join(', ')})
      ORDER BY table_name, ordinal_position`,
  );
  const tables = new Map<string, Map<string, ColumnMeta>>();
  for (const row of rows) {
    let columns = tables.get(row.table_name);
    if (!columns) {
      columns = new Map();
      tables.set(row.table_name, columns);
    }
    columns.set(row.column_name, {
      name: row.column_name,
      dataType: row.data_type,
      maxLength: row.max_length,
      nullable: row.nullable,
      generated: row.generated,
    });
  }
  if (!tables.has('templates') || !tables.has('users')) {
    throw new CoderdbError(
      'usage',
      'coder.not-coder',
      "this database does not have Coder's tables (templates, users)",
      {
        hint: 'check the database in the URL or secret; `coderdb tables` lists what is there',
      },
    );
  }
  const [exists] = await db.objects<{ present: boolean }>(
    "SELECT to_regclass('schema_migrations') IS NOT NULL AS present",
  );
  const [migration] = exists?.present
    ? await db.objects<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations')
    : [];
  return {
    migration: migration?.version ?? null,
    schema: rows[0]?.table_schema ?? 'public',
    has: (table, column) => tables.get(table)?.has(column) ?? false,
    column: (table, column) => tables.get(table)?.get(column),
    tables: () => [...tables.keys()],
  };
}
