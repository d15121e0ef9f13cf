// Applies a confirmed plan in one transaction: locks the planned rows and checks they are still as
// the plan saw them, reruns each statement (a plain INSERT writes the planned rows themselves, so
// values the plan generated, gen_random_uuid() keys for one, are the ones applied), refuses if
// anything differs from the plan (rows, values, what triggers and cascades changed), writes the
// undo file and the audit line, commits.

import { markAudited } from '../../core/audit.js';
import { CoderdbError, refusedError } from '../../core/errors.js';
import { paths } from '../../core/paths.js';
import { type Context, Db } from '../db.js';
import { withStatementPosition } from '../query.js';
import { scrubWriteError } from '../redaction.js';
import { firstDifference, readClock, type TransactionClock } from './divergence.js';
import { readIdentity } from './identity.js';
import { IMAGE_COLUMN, type RowImage, selectImages, withRowImages } from './images.js';
import { images, keySet, type StatementPlan, type WritePlan } from './plan.js';
import { countersDelta, readCounters, sameChanges, sideChanges, tableFamily } from './side-changes.js';
import { qualifiedName } from './table.js';
import { insertRows } from './undo.js';
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
    await request.precheck?.(db);
    const clocks = { plan: plan.clock, apply: await readClock(db) };
    const undo: UndoStatement[] = [];
    const results: ApplyResult['statements'] = [];
    for (const entry of plan.statements) {
      try {
        const applied = await applyStatement(db, entry, clocks);
        results.push({ command: entry.statement.command, rowCount: applied.rowCount });
        if (applied.undo) undo.push(applied.undo);
      } catch (error) {
        const failure = withStatementPosition(
          scrubWriteError(error, entry.statement),
          entry.statement,
          request.sql,
        );
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
          identity: await readIdentity(db),
          statements: undo,
        })
      : undefined;
    const outcome = (
      status: 'commit-pending' | 'committed' | 'rolled-back',
      durable: boolean,
      undoFile: string | undefined,
      failure?: CoderdbError,
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
            ...(failure ? { error: failure.message, code: failure.code } : {}),
          },
          { durable },
        );
      });
    };
    outcome('commit-pending', true, pendingUndo);
    try {
      // auditRequired: no COMMIT until the shared trail took the commit-pending lines.
      await context.audit.accepted();
    } catch (error) {
      if (pendingUndo) discardUndoFile(pendingUndo);
      outcome('rolled-back', false, undefined, error as CoderdbError);
      throw error;
    }
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
  clocks: { plan: TransactionClock; apply: TransactionClock },
): Promise<{ rowCount: number | null; undo?: UndoStatement }> {
  const { statement, table } = entry;
  const family = table ? await tableFamily(db, table) : new Set<string>();
  if (!table || !statement.dml || statement.dml === 'merge' || entry.noUndoReason !== undefined) {
    const counters = await readCounters(db);
    const result = await db.all(statement.text);
    if (statement.effect === 'write' && entry.rowCount !== null && result.rowCount !== entry.rowCount) {
      throw drift(entry, result.rowCount ?? 0);
    }
    if (statement.effect === 'write') {
      const rows = result.rowCount ?? 0;
      const delta = countersDelta(counters, await readCounters(db));
      refuseOtherSideChanges(
        entry,
        sideChanges(delta, family, { inserted: rows, updated: rows, deleted: rows }),
      );
    }
    return { rowCount: result.rowCount };
  }
  const plainInsert = statement.dml === 'insert' && !statement.upsert;
  // Rows the plan saw are locked and imaged first, so nobody changes them between image and write,
  // and must still be as the plan saw them: else the plan showed a change of other values.
  const lockedBefore = plainInsert ? [] : await images(db, selectImages(table, keyRows(entry), true));
  const moved = firstDifference(table, entry.before, lockedBefore);
  if (moved) throw diverged(entry, `${moved} (changed since the plan)`);
  const counters = await readCounters(db);
  const returned = await images(
    db,
    plainInsert
      ? `${insertRows(table, entry.after)} RETURNING to_jsonb(${qualifiedName(table)}.*) AS ${IMAGE_COLUMN}`
      : await withRowImages(statement),
  );
  const asPlanned = plainInsert
    ? returned.length === entry.rowCount
    : keySet(table, returned).join() === keySet(table, keyRows(entry)).join();
  if (!asPlanned) throw drift(entry, returned.length);
  if (statement.dml !== 'delete') {
    const difference = firstDifference(table, entry.after, returned, clocks);
    if (difference) throw diverged(entry, difference);
  }
  const delta = countersDelta(counters, await readCounters(db));
  const direct =
    statement.dml === 'delete'
      ? { inserted: 0, updated: 0, deleted: returned.length }
      : statement.dml === 'update'
        ? { inserted: 0, updated: returned.length, deleted: 0 }
        : { inserted: returned.length - lockedBefore.length, updated: lockedBefore.length, deleted: 0 };
  refuseOtherSideChanges(entry, sideChanges(delta, family, direct));
  const before = statement.dml === 'delete' ? returned : lockedBefore;
  const after = statement.dml === 'delete' ? [] : returned;
  return {
    rowCount: returned.length,
    undo: { sql: statement.text, dml: statement.dml, table, before, after },
  };
}

function refuseOtherSideChanges(entry: StatementPlan, applied: StatementPlan['alsoChanges']): void {
  if (sameChanges(entry.alsoChanges, applied)) return;
  throw diverged(entry, 'triggers, rules or cascades now change other rows than the plan showed');
}

/** The rows a statement is expected to touch: for DELETE the rows it removed, otherwise the rows it
 * left (an UPDATE keeps keys; an upsert's keys are those it wrote). */
function keyRows(entry: StatementPlan): RowImage[] {
  return entry.statement.dml === 'delete' ? entry.before : entry.after;
}

function diverged(entry: StatementPlan, difference: string) {
  const label = `statement ${entry.statement.index + 1} (${entry.statement.command})`;
  return refusedError(
    'write.drift',
    `the data changed since the plan: ${label}: ${difference}; nothing was applied`,
    {
      hint: 'run the command again to see a fresh plan',
    },
  );
}

function drift(entry: StatementPlan, now: number) {
  const label = `statement ${entry.statement.index + 1} (${entry.statement.command})`;
  return refusedError(
    'write.drift',
    `the data changed since the plan: ${label} now changes ${now} row(s) and the plan showed ${entry.rowCount}; nothing was applied`,
    { hint: 'run the command again to see a fresh plan' },
  );
}
