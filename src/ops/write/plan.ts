// Writes happen in two transactions. The plan runs the statements, records how many rows each
// changes with images of those rows before and after, and rolls back. The apply runs them again in
// a new transaction with timeouts, checks that exactly the planned rows change (else the data moved
// since the plan and nothing is applied), saves the before-images to an undo file, and commits.

import { CoderdbError, refusedError } from '../../core/errors.js';
import type { AnalyzedStatement } from '../../sql/guard.js';
import { analyze, enforce, qualified } from '../../sql/guard.js';
import { type Context, Db } from '../db.js';
import { withStatementPosition } from '../query.js';
import { scrubWriteError } from '../redaction.js';
import { IMAGE_COLUMN, keyOf, type RowImage, selectImages, withRowImages } from './images.js';
import { assertWritable, describeTarget, type TableInfo } from './table.js';

export interface WriteRequest {
  /** The coderdb command, for the audit log: `query`, `templates set-description` … */
  command: string;
  sql: string;
  reason?: string;
  allowAllRows?: boolean;
}

export interface StatementPlan {
  statement: AnalyzedStatement;
  /** Rows the statement changes, from its command tag. */
  rowCount: number | null;
  /** Set when row images were captured (top-level DML on a table with a primary key). */
  table?: TableInfo;
  before: RowImage[];
  after: RowImage[];
  /** Why no images or undo are available for this statement, if so. */
  noUndoReason?: string;
}

export interface WritePlan {
  request: WriteRequest;
  statements: StatementPlan[];
  database: string;
  createdAt: string;
}

/** Analyzes, checks and plans a write. Nothing is committed. */
export async function planWrite(context: Context, request: WriteRequest): Promise<WritePlan> {
  const statements = await analyze(request.sql);
  enforce(statements, { write: true, allowAllRows: request.allowAllRows });
  const db = await Db.begin(context, 'write');
  try {
    const plans: StatementPlan[] = [];
    for (const statement of statements) {
      try {
        plans.push(await planStatement(db, statement));
      } catch (error) {
        throw withStatementPosition(scrubWriteError(error, statement), statement, request.sql);
      }
    }
    for (const plan of plans) {
      db.record({ command: request.command, statement: plan.statement.auditText }, plan.statement.text, {
        outcome: 'planned',
        rows: plan.rowCount,
        ...(request.reason ? { reason: request.reason } : {}),
      });
    }
    return { request, statements: plans, database: db.server.database, createdAt: new Date().toISOString() };
  } finally {
    await db.close(); // rolls back
  }
}

async function planStatement(db: Db, statement: AnalyzedStatement): Promise<StatementPlan> {
  if (statement.effect === 'read') {
    await db.run(statement.text);
    return { statement, rowCount: null, before: [], after: [] };
  }
  const table = await imageableTable(db, statement);
  if (typeof table === 'string') {
    const result = await db.all(statement.text);
    return { statement, rowCount: result.rowCount, before: [], after: [], noUndoReason: table };
  }
  const sql = await withRowImages(statement);
  if (statement.dml === 'delete') {
    const before = await images(db, sql);
    return { statement, table, rowCount: before.length, before, after: [] };
  }
  if (statement.dml === 'insert' && !statement.upsert) {
    const after = await images(db, sql);
    return { statement, table, rowCount: after.length, before: [], after };
  }
  // UPDATE and upserts: a first run finds the rows, a savepoint undoes it, their images before the
  // change are read, and a second run leaves the transaction as the statement leaves it.
  await db.run('SAVEPOINT coderdb_plan');
  const firstRun = await images(db, sql);
  await db.run('ROLLBACK TO SAVEPOINT coderdb_plan');
  const before = await images(db, selectImages(table, firstRun, false));
  const after = await images(db, sql);
  return { statement, table, rowCount: after.length, before, after };
}

/** The table whose rows can be imaged, or the reason they cannot. */
async function imageableTable(db: Db, statement: AnalyzedStatement): Promise<TableInfo | string> {
  if (!statement.dml || !statement.target) return `${statement.command} is not a row change`;
  const table = await describeTarget(db, statement.target.schema, statement.target.name);
  assertWritable(table);
  if (statement.dml === 'merge') return 'MERGE has no row images';
  if (statement.hasWritingCte) return 'the statement has data-modifying WITH clauses';
  if (table.kind !== 'r' && table.kind !== 'p') return `${qualified(statement.target)} is not a plain table`;
  if (table.primaryKey.length === 0) return `${qualified(statement.target)} has no primary key`;
  return table;
}

export async function images(db: Db, sql: string): Promise<RowImage[]> {
  const result = await db.all(sql);
  const column = result.fields.findIndex((field) => field.name === IMAGE_COLUMN);
  if (column < 0)
    throw new CoderdbError('internal', 'write.no-images', 'the statement returned no row images');
  return result.rows.map((row) => JSON.parse(row[column] ?? 'null') as RowImage);
}

/** Refuses to apply statements without undo unless the caller accepted that. */
export function assertUndoable(plan: WritePlan, allowNoUndo: boolean): void {
  if (allowNoUndo) return;
  const blocked = plan.statements.find((entry) => entry.noUndoReason && entry.statement.effect === 'write');
  if (blocked) {
    throw refusedError(
      'write.no-undo',
      `refused statement ${blocked.statement.index + 1} (${blocked.statement.command}): coderdb cannot undo it (${blocked.noUndoReason})`,
      { hint: 'add --no-undo to apply it anyway; consider --backup first' },
    );
  }
}

/** Row keys as a sorted list, to compare the rows a run changed with the rows planned. */
export function keySet(table: TableInfo, rows: RowImage[]): string[] {
  return rows.map((row) => keyOf(table, row)).sort();
}
