// What completion reads from the live catalog: schemas, tables and views, and a table's columns.
// Read in read-only sessions on the held connection, like any other statement, but not audited:
// they are coderdb's own catalog lookups, not the operator's statements.

import { type Context, withReadSession } from '../ops/db.js';
import { quoteLiteral } from '../sql/literal.js';
import type { CatalogSource, Relation } from './completion.js';

const USER_SCHEMAS =
  "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname !~ '^pg_temp'";

export function catalogSource(context: Context): CatalogSource {
  return {
    relations: () =>
      withReadSession(context, async (db) => {
        const schemas = await db.all(`SELECT n.nspname FROM pg_namespace n WHERE ${USER_SCHEMAS} ORDER BY 1`);
        const relations = await db.all(
          `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_SCHEMAS} ORDER BY 2, 1`,
        );
        return {
          schemas: schemas.rows.map((row) => row[0] ?? ''),
          relations: relations.rows.map((row): Relation => ({ schema: row[0] ?? '', name: row[1] ?? '' })),
        };
      }),
    columns: (relation) =>
      withReadSession(context, async (db) => {
        const result = await db.all(
          `SELECT a.attname FROM pg_attribute a
            WHERE a.attrelid = (${quoteLiteral(`"${relation.schema.replace(/"/g, '""')}"."${relation.name.replace(/"/g, '""')}"`)})::regclass
              AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        );
        return result.rows.map((row) => row[0] ?? '');
      }),
  };
}
