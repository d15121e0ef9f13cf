// The write path as one call: plan → (dry run stops) → undo check → confirmation → optional backup →
// apply. The CLI and library callers provide the confirmation; everything else is decided here.

import { CoderdbError, refusedError } from '../../core/errors.js';
import { analyze } from '../../sql/guard.js';
import { type Context, type Db, recordRefusal } from '../db.js';
import { type ApplyOptions, type ApplyResult, applyWrite } from './apply.js';
import { readIdentity, refuseOtherDatabase } from './identity.js';
import { assertUndoable, planWrite, type WritePlan, type WriteRequest } from './plan.js';
import { lockedConflicts, refuseConflicts, undoSql } from './undo.js';
import { readUndoFile } from './undo-file.js';

export type { ApplyResult, WritePlan, WriteRequest };
export { applyWrite, planWrite };

export interface WriteOptions extends ApplyOptions {
  dryRun?: boolean;
  /** Apply statements coderdb cannot undo (DDL, writes to tables without a primary key …). */
  allowNoUndo?: boolean;
  /** Shown the plan; resolves true to apply. */
  /** Asks whoever runs the write; the context says, among other things, whether it is production. */
  confirm: (plan: WritePlan, context: Context) => Promise<boolean>;
  /** Runs after confirmation and before the apply (a full backup, for example). */
  beforeApply?: (plan: WritePlan, context: Context) => Promise<void>;
  /** Called with the plan as soon as it exists, before the confirmation. */
  onPlan?: (plan: WritePlan) => Promise<void> | void;
}

export interface WriteOutcome {
  plan: WritePlan;
  applied?: ApplyResult;
  /** Why nothing was applied: a dry run, or a plan that changes nothing. */
  skipped?: 'dry-run' | 'no-change';
}

export async function performWrite(
  context: Context,
  request: WriteRequest,
  options: WriteOptions,
): Promise<WriteOutcome> {
  try {
    return await planAndApply(context, request, options);
  } catch (error) {
    await recordWriteRefusal(context, request, error);
    throw error;
  }
}

/** A refused write in the audit log, with its statements masked as the guard masks them. */
async function recordWriteRefusal(context: Context, request: WriteRequest, error: unknown): Promise<void> {
  if (!(error instanceof CoderdbError) || error.kind !== 'refused') return;
  const statement = await analyze(request.sql).then(
    (statements) => statements.map((entry) => entry.auditText).join(';\n'),
    () => undefined,
  );
  recordRefusal(
    context,
    { command: request.command, ...(statement === undefined ? {} : { statement }) },
    error,
  );
}

async function planAndApply(
  context: Context,
  request: WriteRequest,
  options: WriteOptions,
): Promise<WriteOutcome> {
  const plan = await planWrite(context, request);
  await options.onPlan?.(plan);
  if (options.dryRun) return { plan, skipped: 'dry-run' };
  const changes = plan.statements.some(
    (entry) => entry.statement.effect === 'write' && (entry.rowCount === null || entry.rowCount > 0),
  );
  if (!changes) return { plan, skipped: 'no-change' };
  assertUndoable(plan, options.allowNoUndo ?? false);
  if (!(await options.confirm(plan, context))) {
    throw refusedError('write.declined', 'not applied: the change was not confirmed', {
      hint: 'nothing was changed',
    });
  }
  await options.beforeApply?.(plan, context);
  const applied = await applyWrite(context, plan, options);
  return { plan, applied };
}

export interface UndoOptions extends Omit<WriteOptions, 'allowNoUndo'> {
  /** Restore even rows that changed after the write, or into another database than its own. */
  force?: boolean;
  reason?: string;
}

/**
 * Restores the before-images saved in an undo file, as a planned and confirmed write. Unless
 * forced, the plan's and again the apply's transaction first check that this is the file's
 * database and that its rows are still as the write left them, with those rows locked until the
 * commit: a change committed by anyone before that check refuses the undo, and none can come after.
 */
export async function performUndo(
  context: Context,
  file: string,
  options: UndoOptions,
): Promise<WriteOutcome> {
  const undo = readUndoFile(file);
  const sql = undoSql(undo);
  const precheck = async (db: Db) => {
    refuseOtherDatabase(file, { database: undo.database, ...undo.identity }, await readIdentity(db));
    refuseConflicts(await lockedConflicts(db, undo));
  };
  return performWrite(
    context,
    {
      command: 'undo',
      sql,
      reason: options.reason ?? `undo ${file}`,
      // The rows are named by key; an undo of a write to every row restores every row.
      allowAllRows: true,
      ...(options.force ? {} : { precheck }),
    },
    // Undo statements always have row images; what triggers or cascades change while restoring
    // (shown in the plan) cannot block the way back.
    { ...options, allowNoUndo: true },
  );
}
