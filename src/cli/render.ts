// Rendering of library results for people and machines: result sets in every format, write plans
// with before/after views of the changed rows, and outcomes.

import type { Format } from '../core/output/formats.js';
import { createWriter } from '../core/output/formats.js';
import type { Sink } from '../core/output/sink.js';
import type { JsonValue } from '../core/pgtypes.js';
import { isSecretColumn, REDACTED_VALUE } from '../ops/coder/secrets.js';
import type { ResultSet } from '../ops/db.js';
import { redactionFor } from '../ops/redaction.js';
import { changedColumns, keyOf, type RowImage } from '../ops/write/images.js';
import type { WriteOutcome, WritePlan } from '../ops/write/index.js';
import { describeChange } from '../ops/write/side-changes.js';

export async function printResult(
  result: ResultSet,
  format: Format,
  sink: Sink,
  options: { showSecrets?: boolean; expanded?: boolean } = {},
): Promise<void> {
  const writer = options.expanded
    ? new (await import('../console/expanded.js')).ExpandedWriter(sink)
    : createWriter(format, sink);
  const redaction = options.showSecrets ? undefined : redactionFor(result.fields);
  await writer.start(redaction?.fields ?? result.fields);
  await writer.rows(redaction ? redaction.rows(result.rows) : result.rows);
  await writer.end(result.command, result.rowCount, true);
  await writer.finish();
}

/** Several named results as one JSON object, or as titled tables. */
export async function printSections(
  sections: Record<string, ResultSet>,
  format: Format,
  sink: Sink,
): Promise<void> {
  if (format === 'json') {
    const { toObjects } = await import('../ops/db.js');
    const object = Object.fromEntries(
      Object.entries(sections).map(([name, result]) => [name, toObjects(result)]),
    );
    await sink.write(`${JSON.stringify(object, null, 2)}\n`);
    return;
  }
  let first = true;
  for (const [title, result] of Object.entries(sections)) {
    if (format === 'table') await sink.write(`${first ? '' : '\n'}${title}:\n`);
    first = false;
    // Sections hold catalog facts (columns, indexes, sizes), never row values: nothing to redact,
    // and describe's `secret` column is a flag, not a credential.
    await printResult(result, format, sink, { showSecrets: true });
  }
}

const MAX_ROWS_SHOWN = 20;

/** A plan as people read it: per statement, rows affected and the changed values before → after. */
export function formatPlan(plan: WritePlan): string {
  const lines: string[] = [`Plan for ${plan.database} (rolled back; nothing has changed yet):`];
  for (const entry of plan.statements) {
    const { statement } = entry;
    if (statement.effect === 'read') continue;
    const count = entry.rowCount === null ? '' : ` — ${entry.rowCount} row${entry.rowCount === 1 ? '' : 's'}`;
    lines.push(
      '',
      `${statement.index + 1}. ${statement.command}${count}`,
      indent(oneLine(statement.text), 3),
    );
    if (entry.noUndoReason) lines.push(`   no row images, cannot be undone: ${entry.noUndoReason}`);
    for (const change of entry.alsoChanges ?? []) {
      lines.push(
        `   also changes: ${describeChange(change)} (trigger, rule or cascade; not in the undo file)`,
      );
    }
    if (!entry.table) continue;
    const table = entry.table;
    const afterByKey = new Map(entry.after.map((row) => [keyOf(table, row), row]));
    const beforeByKey = new Map(entry.before.map((row) => [keyOf(table, row), row]));
    const keys = [...new Set([...beforeByKey.keys(), ...afterByKey.keys()])];
    for (const key of keys.slice(0, MAX_ROWS_SHOWN)) {
      lines.push(...describeRowChange(key, beforeByKey.get(key), afterByKey.get(key)));
    }
    if (keys.length > MAX_ROWS_SHOWN) lines.push(`   … and ${keys.length - MAX_ROWS_SHOWN} more rows`);
  }
  return lines.join('\n');
}

function describeRowChange(key: string, before: RowImage | undefined, after: RowImage | undefined): string[] {
  const label = `   ${keyLabel(key)}`;
  if (before && !after) return [`${label} deleted: ${summary(before)}`];
  if (!before && after) return [`${label} inserted: ${summary(after)}`];
  const changed = changedColumns(before, after);
  if (changed.length === 0) return [`${label} unchanged`];
  return [
    `${label}:`,
    ...changed.map(
      (column) => `     ${column}: ${show(column, before?.[column])} → ${show(column, after?.[column])}`,
    ),
  ];
}

function keyLabel(key: string): string {
  const values = JSON.parse(key) as JsonValue[];
  return values.map((value) => String(value)).join(', ');
}

function summary(row: RowImage): string {
  const text = Object.entries(row)
    .map(([column, value]) => `${column}=${show(column, value)}`)
    .join(' ');
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

function show(column: string, value: JsonValue | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  if (isSecretColumn(column)) return REDACTED_VALUE;
  return JSON.stringify(value);
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 299)}…` : flat;
}

function indent(text: string, spaces: number): string {
  return text
    .split('\n')
    .map((line) => ' '.repeat(spaces) + line)
    .join('\n');
}

export function formatOutcome(outcome: WriteOutcome): string {
  if (outcome.skipped === 'dry-run') return 'Dry run: nothing was applied.';
  if (outcome.skipped === 'no-change') return 'Nothing to apply: the plan changes no rows.';
  const applied = outcome.applied!;
  const total = applied.statements.reduce((sum, entry) => sum + (entry.rowCount ?? 0), 0);
  const lines = [`Applied and committed: ${total} row${total === 1 ? '' : 's'} changed.`];
  if (applied.undoFile)
    lines.push(`Undo file: ${applied.undoFile}`, `Revert with: coderdb undo ${applied.undoFile}`);
  return lines.join('\n');
}

/** The plan and outcome as JSON for --format json. */
export function outcomeJson(outcome: WriteOutcome): Record<string, unknown> {
  return {
    applied: Boolean(outcome.applied),
    ...(outcome.skipped ? { skipped: outcome.skipped } : {}),
    undoFile: outcome.applied?.undoFile ?? null,
    statements: outcome.plan.statements.map((entry, index) => ({
      statement: entry.statement.auditText,
      command: entry.statement.command,
      rowsPlanned: entry.rowCount,
      rowsApplied: outcome.applied?.statements[index]?.rowCount ?? null,
      before: entry.before.map(redactImage),
      after: entry.after.map(redactImage),
      ...(entry.noUndoReason ? { noUndoReason: entry.noUndoReason } : {}),
      alsoChanges: entry.alsoChanges ?? [],
    })),
  };
}

function redactImage(row: RowImage): RowImage {
  const copy: RowImage = {};
  for (const [column, value] of Object.entries(row)) {
    copy[column] = value !== null && isSecretColumn(column) ? REDACTED_VALUE : value;
  }
  return copy;
}
