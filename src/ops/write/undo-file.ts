// The undo file: what an applied write changed, with the rows as they were before, written and
// fsynced before the commit so that a crash right after the commit still leaves a way back.
// It holds row data (possibly credentials columns), so it is private to the user (mode 0600).

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { usageError } from '../../core/errors.js';
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
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw usageError('undo.unreadable', `cannot read undo file ${file}: ${(error as Error).message}`);
  }
  const undo = parsed as Partial<UndoFile>;
  if (undo?.format !== UNDO_FORMAT || !Array.isArray(undo.statements)) {
    throw usageError('undo.invalid', `${file} is not a coderdb undo file`);
  }
  return undo as UndoFile;
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
