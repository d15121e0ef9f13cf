// SQL that captures row images: a statement rewritten to return each changed row whole as jsonb,
// and filters that find rows again by primary key. Row images are `to_jsonb(row)`, which keeps every
// type's exact value and turns back into a row with jsonb_populate_recordset.

import type { JsonValue } from '../../core/pgtypes.js';
import type { AnalyzedStatement } from '../../sql/guard.js';
import { findReturning } from '../../sql/guard.js';
import { quoteIdent, quoteLiteral } from '../../sql/literal.js';
import { qualifiedName, type TableInfo } from './table.js';

export type RowImage = Record<string, JsonValue>;

export const IMAGE_COLUMN = 'coderdb_row_image';

/** The statement with its RETURNING clause replaced by one that returns whole rows. */
export async function withRowImages(statement: AnalyzedStatement): Promise<string> {
  const ref = quoteIdent(statement.target!.ref);
  const returning = `RETURNING to_jsonb(${ref}.*) AS ${IMAGE_COLUMN}`;
  if (!statement.hasReturning) return `${statement.text}\n${returning}`;
  const offset = await findReturning(statement.text);
  return `${statement.text.slice(0, offset)}${returning}`;
}

/** `(t.a, t.b) IN (…)` matching the primary keys of `rows`; `false` when there are none. */
export function keyFilter(table: TableInfo, alias: string, rows: RowImage[]): string {
  if (rows.length === 0) return 'false';
  const keys = table.primaryKey;
  const left = keys.map((key) => `${quoteIdent(alias)}.${quoteIdent(key)}`).join(', ');
  const right = keys.map((key) => `k.${quoteIdent(key)}`).join(', ');
  return `(${left}) IN (SELECT ${right} FROM ${recordset(
    table,
    rows.map((row) => pick(row, keys)),
  )} AS k)`;
}

/** jsonb_populate_recordset over the table's row type: typed rows from JSON images. */
export function recordset(table: TableInfo, rows: RowImage[]): string {
  return `jsonb_populate_recordset(NULL::${qualifiedName(table)}, ${quoteLiteral(JSON.stringify(rows))}::jsonb)`;
}

export function selectImages(table: TableInfo, rows: RowImage[], lock: boolean): string {
  return (
    `SELECT to_jsonb(t.*) AS ${IMAGE_COLUMN} FROM ${qualifiedName(table)} AS t WHERE ${keyFilter(table, 't', rows)}` +
    (lock ? ' FOR UPDATE' : '')
  );
}

export function keyOf(table: TableInfo, row: RowImage): string {
  return JSON.stringify(table.primaryKey.map((key) => row[key] ?? null));
}

export function pick(row: RowImage, columns: string[]): RowImage {
  const picked: RowImage = {};
  for (const column of columns) picked[column] = row[column] ?? null;
  return picked;
}

/** Columns whose values differ between two images of the same row. */
export function changedColumns(before: RowImage | undefined, after: RowImage | undefined): string[] {
  const names = new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})]);
  return [...names].filter((name) => JSON.stringify(before?.[name]) !== JSON.stringify(after?.[name]));
}
