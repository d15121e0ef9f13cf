// What the write path must know about a table it changes, read from the live catalog: its real
// schema and name, its kind (a view cannot be written row by row), its primary key (rows are
// identified by it in plans and undo files) and which columns cannot be written back (generated,
// identity ALWAYS).

import { CoderdbError, refusedError } from '../../core/errors.js';
import { quoteLiteral, quoteQualified } from '../../sql/literal.js';
import type { Db } from '../db.js';

export interface TableColumn {
  name: string;
  type: string;
  /** GENERATED ALWAYS AS (…) STORED: computed by the server, never written. */
  generated: boolean;
  /** GENERATED ALWAYS AS IDENTITY: written back only with OVERRIDING SYSTEM VALUE. */
  identityAlways: boolean;
}

export interface TableInfo {
  schema: string;
  name: string;
  /** r table, p partitioned table, v view, m materialized view, f foreign table. */
  kind: string;
  primaryKey: string[];
  columns: TableColumn[];
  /** For views: whether PostgreSQL can update it automatically, and the tables it reads. */
  updatableView?: boolean;
  viewSources?: string[];
}

/** Looks a table up as the statement names it (search_path applies when no schema is given). */
export async function describeTarget(db: Db, schema: string | undefined, name: string): Promise<TableInfo> {
  const regclass = quoteLiteral(quoteQualified(schema, name));
  const [relation] = await db.objects<{ oid: number; schema: string; name: string; kind: string }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass(${regclass})`,
  );
  if (!relation) {
    throw new CoderdbError('sql', 'sql.42P01', `relation "${quoteQualified(schema, name)}" does not exist`, {
      sqlState: '42P01',
      hint: 'check the table name with `coderdb tables`',
    });
  }
  const columns = await db.objects<{
    name: string;
    type: string;
    generated: boolean;
    identity_always: boolean;
  }>(
    `SELECT attname AS name, format_type(atttypid, atttypmod) AS type,
            attgenerated::text <> '' AS generated, attidentity::text = 'a' AS identity_always
       FROM pg_attribute
      WHERE attrelid = ${relation.oid} AND attnum > 0 AND NOT attisdropped
      ORDER BY attnum`,
  );
  const keys = await db.objects<{ name: string }>(
    `SELECT a.attname AS name
       FROM pg_index i
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[])
      WHERE i.indrelid = ${relation.oid} AND i.indisprimary
      ORDER BY array_position(i.indkey::int2[], a.attnum)`,
  );
  const info: TableInfo = {
    schema: relation.schema,
    name: relation.name,
    kind: relation.kind,
    primaryKey: keys.map((key) => key.name),
    columns: columns.map((column) => ({
      name: column.name,
      type: column.type,
      generated: column.generated,
      identityAlways: column.identity_always,
    })),
  };
  if (relation.kind === 'v') {
    const [view] = await db.objects<{ updatable: boolean }>(
      `SELECT is_updatable = 'YES' AS updatable FROM information_schema.views
        WHERE table_schema = ${quoteLiteral(relation.schema)} AND table_name = ${quoteLiteral(relation.name)}`,
    );
    info.updatableView = view?.updatable ?? false;
    const sources = await db.objects<{ name: string }>(
      `SELECT table_name AS name FROM information_schema.view_table_usage
        WHERE view_schema = ${quoteLiteral(relation.schema)} AND view_name = ${quoteLiteral(relation.name)}
        ORDER BY table_name`,
    );
    info.viewSources = sources.map((source) => source.name);
  }
  return info;
}

/** Refuses writes to views PostgreSQL cannot update, naming the table to write instead. */
export function assertWritable(table: TableInfo): void {
  if (table.kind !== 'v' || table.updatableView) return;
  const sources = table.viewSources ?? [];
  const base = likelyBaseTable(table.name, sources);
  throw refusedError(
    'write.view',
    `${table.name} is a read-only view${sources.length ? ` over ${sources.join(', ')}` : ''}; rows cannot be written through it`,
    { hint: base ? `write to ${base} instead` : 'write to the underlying table instead' },
  );
}

/** The source table a view is named after (templates for template_with_names), else the first. */
function likelyBaseTable(view: string, sources: string[]): string | undefined {
  return sources.find((source) => view.includes(source.replace(/s$/, ''))) ?? sources[0];
}

export function qualifiedName(table: Pick<TableInfo, 'schema' | 'name'>): string {
  return quoteQualified(table.schema, table.name);
}
