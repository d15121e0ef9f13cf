// Writes happen in two transactions. The plan runs the statements, records how many rows each
// changes with images of those rows before and after, what triggers and cascades changed besides
// (the transaction's own table counters), and rolls back. What a rollback would not undo is refused
// before it runs (side-effects.ts). The apply runs them again in a new transaction with timeouts,
// checks that exactly the planned rows change to exactly the planned values (else the data moved
// since the plan and nothing is applied), saves the before-images to an undo file, and commits.

import { CoderdbError, refusedError } from '../../core/errors.js';
import type { AnalyzedStatement } from '../../sql/guard.js';
import { analyze, enforce, qualified } from '../../sql/guard.js';
import { type Context, Db } from '../db.js';
import { withStatementPosition } from '../query.js';
import { scrubWriteError } from '../redaction.js';
import { readClock, type TransactionClock } from './divergence.js';
import { IMAGE_COLUMN, keyOf, type RowImage, selectImages, withRowImages } from './images.js';
import {
  type Counters,
  countersDelta,
  describeChange,
  readCounters,
  sideChanges,
  type TableChange,
  tableFamily,
} from './side-changes.js';
import { calledFunctions, defaultFunctions, refuseSideEffects, sequenceMark } from './side-effects.js';
import { assertWritable, describeTarget, qualifiedName, type TableInfo } from './table.js';

export interface WriteRequest {
  /** The coderdb command, for the audit log: `query`, `templates set-description` … */
  command: string;
  sql: string;
  reason?: string;
  allowAllRows?: boolean;
  /** Runs first in the plan's transaction and again, before any statement, in the apply's (undo
   * uses it to check, with the rows locked, that nobody changed them since the write). */
  precheck?: (db: Db) => Promise<void>;
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
  /** Rows that triggers, rules or cascades changed besides: other tables', or more of its own. */
  alsoChanges: TableChange[];
}

export interface WritePlan {
  request: WriteRequest;
  statements: StatementPlan[];
  database: string;
  createdAt: string;
  /** The plan transaction's time: `now()` in its row images. */
  clock: TransactionClock;
}

/** Analyzes, checks and plans a write. Nothing is committed. */
export async function planWrite(context: Context, request: WriteRequest): Promise<WritePlan> {
  const statements = await analyze(request.sql);
  enforce(statements, { write: true, allowAllRows: request.allowAllRows });
  for (const statement of statements)
    refuseSideEffects(statement, calledFunctions(statement.node, statement.type));
  const db = await Db.begin(context, 'write');
  try {
    await request.precheck?.(db);
    const clock = await readClock(db);
    const sequences = await sequenceMark(db);
    const plans: StatementPlan[] = [];
    for (const statement of statements) {
      try {
        plans.push(await planStatement(db, statement, request));
        await refuseSequenceAdvance(db, statement, sequences);
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
    return {
      request,
      statements: plans,
      database: db.server.database,
      createdAt: new Date().toISOString(),
      clock,
    };
  } finally {
    await db.close(); // rolls back
  }
}

async function planStatement(
  db: Db,
  statement: AnalyzedStatement,
  request: WriteRequest,
): Promise<StatementPlan> {
  if (statement.effect === 'read') {
    await db.run(statement.text);
    return { statement, rowCount: null, before: [], after: [], alsoChanges: [] };
  }
  const target = await writtenTable(db, statement);
  const family = target ? await tableFamily(db, target) : new Set<string>();
  const tableRows =
    target && (statement.dml !== 'insert' || statement.upsert) ? await countRows(db, target) : undefined;
  const reason = noImagesReason(statement, target);
  let counters: Counters;
  const measure = async () => {
    counters = await readCounters(db);
  };
  let plan: Omit<StatementPlan, 'alsoChanges'>;
  if (reason !== undefined || !target) {
    await measure();
    const result = await db.all(statement.text);
    plan = { statement, rowCount: result.rowCount, before: [], after: [], noUndoReason: reason ?? '' };
  } else {
    const sql = await withRowImages(statement);
    if (statement.dml === 'delete') {
      await measure();
      const before = await images(db, sql);
      plan = { statement, table: target, rowCount: before.length, before, after: [] };
    } else if (statement.dml === 'insert' && !statement.upsert) {
      await measure();
      const after = await images(db, sql);
      plan = { statement, table: target, rowCount: after.length, before: [], after };
    } else {
      // UPDATE and upserts: a first run finds the rows, a savepoint undoes it, their images before
      // the change are read, and a second run leaves the transaction as the statement leaves it.
      await db.run('SAVEPOINT coderdb_plan');
      const firstRun = await images(db, sql);
      await db.run('ROLLBACK TO SAVEPOINT coderdb_plan');
      const before = await images(db, selectImages(target, firstRun, false));
      await measure();
      const after = await images(db, sql);
      plan = { statement, table: target, rowCount: after.length, before, after };
    }
  }
  const delta = countersDelta(counters!, await readCounters(db));
  const alsoChanges = sideChanges(delta, family, directChanges(plan, reason !== undefined));
  if (tableRows !== undefined && target && !request.allowAllRows) refuseAllRows(plan, target, tableRows);
  return { ...plan, alsoChanges };
}

/** The table a top-level INSERT/UPDATE/DELETE/MERGE writes, checked to be writable, its column
 * defaults checked for what a rollback would not undo. */
async function writtenTable(db: Db, statement: AnalyzedStatement): Promise<TableInfo | undefined> {
  if (!statement.dml || !statement.target) return undefined;
  const table = await describeTarget(db, statement.target.schema, statement.target.name);
  assertWritable(table);
  refuseSideEffects(statement, await defaultFunctions(db, table, statement), ' in a column default');
  return table;
}

/** Why the rows a statement changes cannot be imaged, or undefined when they can. */
function noImagesReason(statement: AnalyzedStatement, table: TableInfo | undefined): string | undefined {
  if (!statement.dml || !table) return `${statement.command} is not a row change`;
  if (statement.dml === 'merge') return 'MERGE has no row images';
  if (statement.hasWritingCte) return 'the statement has data-modifying WITH clauses';
  if (table.kind !== 'r' && table.kind !== 'p') return `${qualified(statement.target!)} is not a plain table`;
  if (table.primaryKey.length === 0) return `${qualified(statement.target!)} has no primary key`;
  return undefined;
}

/** The changes the statement reports itself, which its table's counters include. */
function directChanges(plan: Omit<StatementPlan, 'alsoChanges'>, unknownSplit: boolean) {
  const rows = plan.rowCount ?? 0;
  if (unknownSplit) return { inserted: rows, updated: rows, deleted: rows };
  switch (plan.statement.dml) {
    case 'delete':
      return { inserted: 0, updated: 0, deleted: rows };
    case 'update':
      return { inserted: 0, updated: rows, deleted: 0 };
    default:
      // A plain INSERT, or an upsert: the rows that existed were updated, the others inserted.
      return { inserted: rows - plan.before.length, updated: plan.before.length, deleted: 0 };
  }
}

async function countRows(db: Db, table: TableInfo): Promise<number> {
  const [row] = await db.objects<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${qualifiedName(table)}`);
  return Number(row?.n ?? 0);
}

/**
 * An UPDATE, DELETE, upsert or MERGE that changes every row of a table of two rows or more needs
 * --allow-all-rows whatever its WHERE says (`WHERE id = id`). A table of one row is not refused:
 * selecting its only row by a condition is an ordinary change, not a forgotten WHERE.
 */
function refuseAllRows(plan: Omit<StatementPlan, 'alsoChanges'>, table: TableInfo, tableRows: number): void {
  const { statement } = plan;
  const existingTouched =
    statement.dml === 'merge' || plan.noUndoReason !== undefined
      ? (plan.rowCount ?? 0)
      : statement.upsert
        ? plan.before.length
        : (plan.rowCount ?? 0);
  if (tableRows < 2 || existingTouched < tableRows) return;
  throw refusedError(
    'guard.all-rows',
    `refused statement ${statement.index + 1} (${statement.command}): it changes all ${tableRows} rows of ${qualifiedName(table)}`,
    { hint: 'narrow the WHERE clause, or add --allow-all-rows if every row is really meant' },
  );
}

/** A sequence advance hidden in a trigger is noticed after the fact: refuse to go on. */
async function refuseSequenceAdvance(db: Db, statement: AnalyzedStatement, mark: string): Promise<void> {
  if ((await sequenceMark(db)) === mark) return;
  throw refusedError(
    'write.side-effect',
    `refused statement ${statement.index + 1} (${statement.command}): planning it advanced a sequence (a trigger or a function it calls runs nextval()), which a rollback does not undo`,
    { hint: 'nothing else was changed; the sequence skipped the values the plan drew' },
  );
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
  const cascading = plan.statements.find(
    (entry) => entry.alsoChanges.length && entry.statement.effect === 'write',
  );
  if (!blocked && cascading) {
    throw refusedError(
      'write.no-undo',
      `refused statement ${cascading.statement.index + 1} (${cascading.statement.command}): it also changes ${cascading.alsoChanges.map(describeChange).join(', ')} through triggers, rules or cascades, which the undo file would not restore`,
      { hint: 'add --no-undo to apply it anyway; consider --backup first' },
    );
  }
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
