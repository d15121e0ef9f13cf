// The undo file: what an applied write changed, with the rows as they were before, written and
// fsynced before the commit so that a crash right after the commit still leaves a way back.
// It holds row data (possibly credentials columns), so it is private to the user (mode 0600).

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { decodeUtf8, readFileBounded, UNDO_LIMIT } from '../../core/bounded-read.js';
import { CoderdbError, usageError } from '../../core/errors.js';
import type { DatabaseIdentity } from './identity.js';
import type { RowImage } from './images.js';
import type { TableInfo } from './table.js';

export const UNDO_FORMAT = 'coderdb-undo/1';

export interface UndoStatement {
  sql: string;
  dml: 'insert' | 'update' | 'delete';
  table: TableInfo;
  before: RowImage[];
  after: RowImage[];
}

export interface UndoFile {
  format: typeof UNDO_FORMAT;
  createdAt: string;
  command: string;
  reason?: string;
  profile: string;
  transport: string;
  database: string;
  /** Which database this file restores (absent in files written before coderdb recorded it). */
  identity?: DatabaseIdentity;
  statements: UndoStatement[];
}

/**
 * Writes the undo file as `….pending.json` before the commit; `finalizeUndoFile` renames it once the
 * commit succeeded. A pending file left behind means the process died around the commit: the audit
 * log tells which, and `coderdb undo` on it checks the rows before restoring anything.
 */
export function writeUndoFile(dir: string, undo: UndoFile): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = undo.createdAt.replace(/[:.]/g, '-');
  const slug = undo.command.replace(/[^a-z0-9]+/gi, '-');
  const file = join(dir, `${stamp}-${slug}-${randomBytes(3).toString('hex')}${PENDING}`);
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(undo, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  syncDirectory(dir);
  return file;
}

const PENDING = '.pending.json';

export function finalizeUndoFile(file: string): string {
  const final = file.replace(/\.pending\.json$/, '.json');
  renameSync(file, final);
  syncDirectory(dirname(final));
  return final;
}

/** Removes the undo file of a write that did not commit. */
export function discardUndoFile(file: string): void {
  rmSync(file, { force: true });
}

export function readUndoFile(file: string): UndoFile {
  let bytes: Buffer;
  try {
    bytes = readFileBounded(file, UNDO_LIMIT, { code: 'undo.too-large', what: `undo file ${file}` });
  } catch (error) {
    if (error instanceof CoderdbError) throw error;
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw usageError('undo.unreadable', `cannot read undo file ${file}: ${reason}`);
  }
  const text = decodeUtf8(bytes);
  let parsed: unknown;
  try {
    parsed = text === undefined ? undefined : JSON.parse(text);
  } catch {
    // reported below, in one line: JSON.parse's message can quote a whole line of the file
  }
  if (parsed === undefined)
    throw usageError('undo.invalid', `${file} is not a coderdb undo file (not valid JSON)`);
  const problem = undoShapeProblem(parsed);
  if (problem) throw usageError('undo.invalid', `${file} is not a valid coderdb undo file: ${problem}`);
  return parsed as UndoFile;
}

/**
 * What is wrong with a parsed undo file, checked before anything reads a field of it, so that a
 * truncated or hand-edited file ends with one line instead of a TypeError halfway through the undo.
 */
function undoShapeProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'not a JSON object';
  if (value.format !== UNDO_FORMAT) return `format is not ${UNDO_FORMAT}`;
  for (const key of ['createdAt', 'command', 'profile', 'transport', 'database'] as const) {
    if (typeof value[key] !== 'string') return `"${key}" is missing or not a string`;
  }
  if (!Array.isArray(value.statements)) return '"statements" is not a list';
  for (const [index, statement] of value.statements.entries()) {
    const where = `statement ${index + 1}`;
    if (!isObject(statement)) return `${where} is not an object`;
    if (typeof statement.sql !== 'string') return `${where} has no "sql"`;
    if (!['insert', 'update', 'delete'].includes(statement.dml as string))
      return `${where} has an unknown "dml"`;
    const table = statement.table;
    if (!isObject(table) || typeof table.schema !== 'string' || typeof table.name !== 'string')
      return `${where} has no valid "table"`;
    if (!Array.isArray(table.primaryKey) || !table.primaryKey.every((column) => typeof column === 'string'))
      return `${where}'s table has no valid "primaryKey"`;
    if (
      !Array.isArray(table.columns) ||
      !table.columns.every((column) => isObject(column) && typeof column.name === 'string')
    )
      return `${where}'s table has no valid "columns"`;
    for (const side of ['before', 'after'] as const) {
      const images = statement[side];
      if (!Array.isArray(images) || !images.every(isObject)) return `${where} has no valid "${side}" rows`;
    }
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems cannot fsync a directory; the file itself is already on disk.
  }
}
