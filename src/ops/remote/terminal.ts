// The local end of a remote session: where input comes from, where output goes, the terminal size,
// raw mode and the signals that must not end coderdb while a session runs. `processTerminal()` binds
// it to this process (stdin, stdout, stderr, SIGINT/SIGTERM/SIGHUP); library callers may pass their
// own. Raw mode is undone in `restore()`, and also on process exit as a last resort, so no path
// (an error, a signal, `process.exit` on EPIPE) leaves the user's terminal raw.

import { spawnSync } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { ReadStream, WriteStream } from 'node:tty';
import type { TerminalSize } from '../../ssm/codec.js';

/** What session-manager-plugin sends when stdout is not a terminal. */
export const DETACHED_SIZE: TerminalSize = { cols: 300, rows: 100 };

export type SessionSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

export interface Terminal {
  readonly input: Readable;
  readonly output: Writable;
  readonly inputIsTty: boolean;
  readonly outputIsTty: boolean;
  /** The terminal's size, or 300×100 when output is not a terminal. */
  size(): TerminalSize;
  /** Calls `listener` when the size changes; returns the unsubscribe function. */
  onResize(listener: () => void): () => void;
  /** Raw mode on the input terminal (no-op when input is not a TTY). */
  setRaw(raw: boolean): void;
  /** Routes these signals to `handler` instead of their usual handling, until the returned undo. */
  interceptSignals(handler: (signal: SessionSignal) => void): () => void;
  /** A status line for a person (stderr, only on a terminal). */
  status(line: string): void;
}

const SIGNALS: SessionSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Node's raw mode leaves output processing on (libuv keeps ONLCR), so a bare LF from a full-screen
 * program in the container (ncurses moves the cursor down with it) would also return the cursor to
 * column 0. `stty -opost` on the same terminal switches that off; setRawMode(false) later restores
 * the terminal settings libuv saved before raw mode, OPOST included. Without stty the session still
 * works, with LF shown as CR LF.
 */
function rawOutput(): void {
  try {
    spawnSync('stty', ['-opost'], { stdio: [0, 'ignore', 'ignore'], timeout: 5_000 });
  } catch {
    // See above.
  }
}

export function processTerminal(): Terminal {
  const stdin = process.stdin as ReadStream;
  const stdout = process.stdout as WriteStream;
  const inputIsTty = Boolean(stdin.isTTY);
  const outputIsTty = Boolean(stdout.isTTY);
  let raw = false;
  const restoreOnExit = () => {
    if (raw) stdin.setRawMode(false);
  };
  return {
    input: stdin,
    output: stdout,
    inputIsTty,
    outputIsTty,
    size() {
      if (!outputIsTty || !stdout.columns || !stdout.rows) return DETACHED_SIZE;
      return { cols: stdout.columns, rows: stdout.rows };
    },
    onResize(listener) {
      if (!outputIsTty) return () => {};
      // Node turns SIGWINCH into 'resize' on a TTY stdout.
      stdout.on('resize', listener);
      return () => stdout.off('resize', listener);
    },
    setRaw(on) {
      if (!inputIsTty || raw === on) return;
      stdin.setRawMode(on);
      raw = on;
      if (on && outputIsTty) rawOutput();
      if (on) process.on('exit', restoreOnExit);
      else process.off('exit', restoreOnExit);
    },
    interceptSignals(handler) {
      const saved = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));
      for (const signal of SIGNALS) {
        process.removeAllListeners(signal);
        process.on(signal, handler);
      }
      return () => {
        for (const signal of SIGNALS) {
          process.off(signal, handler);
          for (const listener of saved.get(signal) ?? []) process.on(signal, listener);
        }
      };
    },
    status(line) {
      if (process.stderr.isTTY) process.stderr.write(`${line}\n`);
    },
  };
}
