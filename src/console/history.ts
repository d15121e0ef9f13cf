// The console's history, kept in the XDG state dir (readable by the operator only, 0600) like
// psql's ~/.psql_history. Statements that set a password never reach it (see Console).

import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { paths } from '../core/paths.js';

export const HISTORY_SIZE = 1000;

export function historyFile(): string {
  return join(paths.stateDir(), 'console_history');
}

/** Newest first, as readline keeps it. */
export function loadHistory(file = historyFile()): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

/** Writes the whole history (newest first in memory, oldest first in the file) atomically. */
export function saveHistory(history: string[], file = historyFile()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  const lines = history.slice(0, HISTORY_SIZE).reverse();
  writeFileSync(temporary, lines.length ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
}
