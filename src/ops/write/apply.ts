// Applies a confirmed plan in one transaction: locks the planned rows, reruns each statement,
// refuses if it changes other rows than planned, writes the undo file and the audit line, commits.

import { markAudited } from '../../core/audit.js';
import { CoderdbError, refusedError } from '../../core/errors.js';
import { paths } from '../../core/paths.js';
import { type Context, Db } from '../db.js';
import { withStatementPosition } from '../query.js';
import { type RowImage, selectImages, withRowImages } from './images.js';
import { images, keySet, type StatementPlan, type WritePlan } from './plan.js';
import {
  discardUndoFile,
  finalizeUndoFile,
  UNDO_FORMAT,
  type UndoStatement,
  writeUndoFile,
} from './undo-file.js';

export interface ApplyOptions {
  undoDir?: string;
  /** Called after the undo file is written and before COMMIT (tests use it to simulate a crash). */
  beforeCommit?: () => Promise<void>;
}

export interface ApplyResult {
  statements: { command: string; rowCount: number | null }[];
  undoFile?: string;
}

export async function applyWrite(
  context: Context,
  plan: WritePlan,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const { request } = plan;
  const db = await Db.begin(context, 'write');
  const audit = (entry: StatementPlan) => ({
    command: request.command,
    statement: entry.statement.auditText,
  });
  try {
    const undo: UndoStatement[] = [];
    const results: ApplyResult['statements'] = [];
    for (const entry of plan.statements) {
      try {
        const applied = await applyStatement(db, entry);
        results.push({ command: entry.statement.command, rowCount: applied.rowCount });
        if (applied.undo) undo.push(applied.undo);
      } catch (error) {
        const failure = withStatementPosition(error, entry.statement, request.sql);
        // A drifted plan is refused (and rolled back); anything else failed.
        const refused = failure instanceof CoderdbError && failure.kind === 'refused';
        if (refused) markAudited(failure);
        db.record(audit(entry), entry.statement.text, {
          outcome: refused ? 'refused' : 'rolled-back',
          ...(failure instanceof CoderdbError ? { code: failure.code } : {}),
          error: failure instanceof Error ? failure.message : String(failure),
          ...(request.reason ? { reason: request.reason } : {}),
        });
        throw failure;
      }
    }
    const pendingUndo = undo.length
      ? writeUndoFile(options.undoDir ?? paths.undoDir(), {
          format: UNDO_FORMAT,
          createdAt: new Date().toISOString(),
          command: request.command,
          ...(request.reason ? { reason: request.reason } : {}),
          profile: context.profile.name,
          transport: db.transportName,
          database: db.server.database,
          statements: undo,
        })
      : undefined;
    const outcome = (
      status: 'commit-pending' | 'committed',
      durable: boolean,
      undoFile: string | undefined,
    ) => {
      plan.statements.forEach((entry, index) => {
        if (entry.statement.effect === 'read') return;
        db.record(
          audit(entry),
          entry.statement.text,
          {
            outcome: status,
            rows: results[index]?.rowCount ?? null,
            ...(request.reason ? { reason: request.reason } : {}),
            ...(undoFile ? { undoFile } : {}),
          },
          { durable },
        );
      });
    };
    outcome('commit-pending', true, pendingUndo);
    await options.beforeCommit?.();
    try {
      await db.commit();
    } catch (error) {
      if (pendingUndo) discardUndoFile(pendingUndo);
      throw error;
    }
    const undoFile = pendingUndo ? finalizeUndoFile(pendingUndo) : undefined;
    outcome('committed', false, undoFile);
    return { statements: results, ...(undoFile ? { undoFile } : {}) };
  } finally {
    await db.close();
  }
}

async function applyStatement(
  db: Db,
  entry: StatementPlan,
): Promise<{ rowCount: number | null; undo?: UndoStatement }> {
  const { statement, table } = entry;
  if (!table || !statement.dml || statement.dml === 'merge') {
    const result = await db.all(statement.text);
    if (statement.effect === 'write' && entry.rowCount !== null && result.rowCount !== entry.rowCount) {
      throw drift(entry, result.rowCount ?? 0);
    }
    return { rowCount: result.rowCount };
  }
  const sql = await withRowImages(statement);
  const plainInsert = statement.dml === 'insert' && !statement.upsert;
  // Rows the plan saw are locked and imaged first, so nobody changes them between image and write.
  const lockedBefore = plainInsert ? [] : await images(db, selectImages(table, keyRows(entry), true));
  const returned = await images(db, sql);
  const asPlanned = plainInsert
    ? returned.length === entry.rowCount
    : keySet(table, returned).join() === keySet(table, keyRows(entry)).join();
  if (!asPlanned) throw drift(entry, returned.length);
  const before = statement.dml === 'delete' ? returned : lockedBefore;
  const after = statement.dml === 'delete' ? [] : returned;
  return {
    rowCount: returned.length,
    undo: { sql: statement.text, dml: statement.dml, table, before, after },
  };
}

/** The rows a statement is expected to touch: for DELETE the rows it removed, otherwise the rows it
 * left (an UPDATE keeps keys; an upsert's keys are those it wrote). */
function keyRows(entry: StatementPlan): RowImage[] {
  return entry.statement.dml === 'delete' ? entry.before : entry.after;
}

function drift(entry: StatementPlan, now: number) {
  const label = `statement ${entry.statement.index + 1} (${entry.statement.command})`;
  return refusedError(
    'write.drift',
    `the data changed since the plan: ${label} now changes ${now} row(s) and the plan showed ${entry.rowCount}; nothing was applied`,
    { hint: 'run the command again to see a fresh plan' },
  );
}
