// `coderdb undo FILE`: turns an undo file back into statements that restore the before-images
// exactly (UPDATE back, INSERT the deleted rows, DELETE the inserted ones), after checking that the
// rows still look as the write left them, so that a later change is never silently overwritten.
// The restore is itself a planned, confirmed, audited write with its own undo file.

import { refusedError } from '../../core/errors.js';
import { quoteIdent } from '../../sql/literal.js';
import type { Db } from '../db.js';
import { type Context, withReadSession } from '../db.js';
import { IMAGE_COLUMN, keyFilter, keyOf, type RowImage, recordset } from './images.js';
import { images } from './plan.js';
import { qualifiedName, type TableInfo } from './table.js';
import type { UndoFile, UndoStatement } from './undo-file.js';

export interface Conflict {
  table: string;
  key: string;
  problem: string;
}

/** The SQL that restores the before-images of every statement, in reverse order. */
export function undoSql(undo: UndoFile): string {
  return [...undo.statements]
    .reverse()
    .flatMap((statement) => inverseStatements(statement))
    .join(';\n');
}

function inverseStatements(statement: UndoStatement): string[] {
  const { table, before, after } = statement;
  const afterKeys = new Set(after.map((row) => keyOf(table, row)));
  const beforeKeys = new Set(before.map((row) => keyOf(table, row)));
  const restored = before.filter((row) => afterKeys.has(keyOf(table, row)));
  const deleted = before.filter((row) => !afterKeys.has(keyOf(table, row)));
  const inserted = after.filter((row) => !beforeKeys.has(keyOf(table, row)));
  const sql: string[] = [];
  if (inserted.length) {
    sql.push(`DELETE FROM ${qualifiedName(table)} AS t WHERE ${keyFilter(table, 't', inserted)}`);
  }
  if (restored.length) sql.push(updateBack(table, restored));
  if (deleted.length) sql.push(insertRows(table, deleted));
  return sql;
}

function writableColumns(table: TableInfo): string[] {
  return table.columns.filter((column) => !column.generated).map((column) => column.name);
}

function updateBack(table: TableInfo, rows: RowImage[]): string {
  const settable = table.columns
    .filter(
      (column) => !column.generated && !column.identityAlways && !table.primaryKey.includes(column.name),
    )
    .map((column) => quoteIdent(column.name));
  const match = table.primaryKey.map((key) => `t.${quoteIdent(key)} = r.${quoteIdent(key)}`).join(' AND ');
  return (
    `UPDATE ${qualifiedName(table)} AS t SET ${settable.map((column) => `${column} = r.${column}`).join(', ')} ` +
    `FROM ${recordset(table, rows)} AS r WHERE ${match}`
  );
}

/** INSERT of whole row images (generated columns left to the server). */
export function insertRows(table: TableInfo, rows: RowImage[]): string {
  const columns = writableColumns(table).map(quoteIdent).join(', ');
  const overriding = table.columns.some((column) => column.identityAlways) ? ' OVERRIDING SYSTEM VALUE' : '';
  return `INSERT INTO ${qualifiedName(table)} (${columns})${overriding} SELECT ${columns} FROM ${recordset(table, rows)}`;
}

/** Rows that changed since the write: restoring them would overwrite someone else's change. */
export async function findConflicts(context: Context, undo: UndoFile): Promise<Conflict[]> {
  return withReadSession(context, (db) => conflictsIn(db, undo, false));
}

/**
 * The same check inside a write transaction, with the rows locked (FOR UPDATE) until it ends, so
 * that what was checked is what the undo overwrites. A deleted row's key cannot be locked while
 * absent; a row inserted with it meanwhile makes the undo's INSERT fail on the primary key.
 */
export function lockedConflicts(db: Db, undo: UndoFile): Promise<Conflict[]> {
  return conflictsIn(db, undo, true);
}

async function conflictsIn(db: Db, undo: UndoFile, lock: boolean): Promise<Conflict[]> {
  const conflicts: Conflict[] = [];
  for (const statement of undo.statements) conflicts.push(...(await statementConflicts(db, statement, lock)));
  return conflicts;
}

async function statementConflicts(db: Db, statement: UndoStatement, lock: boolean): Promise<Conflict[]> {
  const { table, before, after } = statement;
  const afterKeys = new Set(after.map((row) => keyOf(table, row)));
  const deleted = before.filter((row) => !afterKeys.has(keyOf(table, row)));
  const expected = new Map(after.map((row) => [keyOf(table, row), row]));
  const rows = [...after, ...deleted];
  const current = await images(
    db,
    `SELECT to_jsonb(t.*) AS ${IMAGE_COLUMN} FROM ${qualifiedName(table)} AS t WHERE ${keyFilter(table, 't', rows)}${lock ? ' FOR UPDATE' : ''}`,
  );
  const currentByKey = new Map(current.map((row) => [keyOf(table, row), row]));
  const name = qualifiedName(table);
  const conflicts: Conflict[] = [];
  for (const [key, row] of expected) {
    const now = currentByKey.get(key);
    if (!now) conflicts.push({ table: name, key, problem: 'the row no longer exists' });
    else if (JSON.stringify(now) !== JSON.stringify(row))
      conflicts.push({ table: name, key, problem: 'the row changed since' });
  }
  for (const row of deleted) {
    const key = keyOf(table, row);
    if (currentByKey.has(key))
      conflicts.push({ table: name, key, problem: 'a row with this key exists again' });
  }
  return conflicts;
}

export function refuseConflicts(conflicts: Conflict[]): void {
  if (conflicts.length === 0) return;
  const first = conflicts[0]!;
  throw refusedError(
    'undo.conflict',
    `refused: ${conflicts.length} row(s) changed after the write (${first.table} ${first.key}: ${first.problem})`,
    { hint: 'inspect the rows; add --force to restore the before-images anyway' },
  );
}
