// The console's history, kept in the XDG state dir (readable by the operator only, 0600) like
// psql's ~/.psql_history. Statements that set a password never reach it (see Console).

import { readFileSync } from 'node:fs';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
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

/**
 * Saves the history in the background, off the statement's path (a synchronous write and rename
 * cost more than the statement itself on a busy disk): one save at a time, and while one runs only
 * the newest history waits for the next. `flush` waits for the last one (the console's end).
 */
export class HistoryWriter {
  readonly #file: string;
  #running: Promise<void> | undefined;
  #next: string[] | undefined;

  constructor(file = historyFile()) {
    this.#file = file;
  }

  save(history: readonly string[]): void {
    this.#next = [...history];
    this.#running ??= this.#drain();
  }

  async flush(): Promise<void> {
    await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      for (let history = this.#next; history; history = this.#next) {
        this.#next = undefined;
        await writeHistory(history, this.#file).catch(() => undefined);
      }
    } finally {
      this.#running = undefined;
    }
  }
}

/** Writes the whole history (newest first in memory, oldest first in the file) atomically. */
async function writeHistory(history: string[], file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  const lines = history.slice(0, HISTORY_SIZE).reverse();
  await writeFile(temporary, lines.length ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
  await chmod(temporary, 0o600);
  await rename(temporary, file);
}
