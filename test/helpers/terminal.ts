// A program in a pseudo-terminal (node-pty), with its output collected and searched from a cursor
// on. Every wait is bounded; a failed wait shows the output.

import pty, { type IPty } from 'node-pty';

const WAIT_MS = 30_000;

/** A program in a pseudo-terminal, with its output collected and searched from a cursor on. */
export class TerminalUnderTest {
  readonly #pty: IPty;
  #output = '';
  #cursor = 0;
  #waiters: Array<() => void> = [];
  readonly exited: Promise<{ exitCode: number; signal?: number }>;

  constructor(file: string, args: string[], env: NodeJS.ProcessEnv, size = { cols: 80, rows: 24 }) {
    this.#pty = pty.spawn(file, args, { ...size, env: env as Record<string, string>, name: 'xterm' });
    this.#pty.onData((data) => {
      this.#output += data;
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.exited = new Promise((resolve) => this.#pty.onExit(resolve));
  }

  get pid(): number {
    return this.#pty.pid;
  }

  /** Everything so far. */
  get all(): string {
    return this.#output;
  }

  /** Everything since the last match. */
  get recent(): string {
    return this.#output.slice(this.#cursor);
  }

  write(text: string): void {
    this.#pty.write(text);
  }

  resize(cols: number, rows: number): void {
    this.#pty.resize(cols, rows);
  }

  /** Waits for `pattern` after the cursor and moves the cursor past it. */
  async expect(pattern: RegExp, timeoutMs = WAIT_MS): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.recent);
      if (match) {
        this.#cursor += match.index + match[0].length;
        return match;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${pattern}; output so far:\n${JSON.stringify(this.recent)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async exit(timeoutMs = WAIT_MS): Promise<{ exitCode: number; signal?: number }> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`did not exit; output:\n${JSON.stringify(this.recent)}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    try {
      this.#pty.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
