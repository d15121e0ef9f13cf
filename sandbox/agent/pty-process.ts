// Runs an exec session's command in a real pty (terminal.ts), as the agent does with creack/pty, and
// feeds its output to the session the way the agent's writePump does: reads of at most 1024 bytes,
// a UTF-8 carry between reads, and (when paced) a 1 ms sleep after each message plus the initial
// 1 s wait. The pump only moves as fast as the session can take messages, and the pty is paused
// when too much output is waiting, so a fast command blocks on its terminal like it would on ECS.

import type { ResolvedCommand } from './command.js';
import { OutputQueue } from './output-queue.js';
import { openTerminal, type Terminal } from './terminal.js';
import { splitAtUtf8Boundary } from './utf8-carry.js';

export type Pacing = 'realistic' | 'none';

export interface OutputSink {
  /** Takes one Output payload. */
  send(payload: Buffer): void;
  /** False while the session cannot take more (socket buffer full, too much unacknowledged). */
  ready(): boolean;
}

/** The agent's writePump sleeps this long before its first read ("wait for all input commands"). */
const INITIAL_WAIT_MS = 1000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class PtyProcess {
  readonly #pty: Terminal;
  readonly #sink: OutputSink;
  readonly #pacing: Pacing;
  readonly #pending = new OutputQueue();
  #exited = false;
  #ptyPaused = false;
  #killed = false;
  #wake: (() => void) | undefined;
  /** Resolves once the child has exited and every byte it wrote has been handed to the sink. */
  readonly done: Promise<void>;

  constructor(command: ResolvedCommand, sink: OutputSink, pacing: Pacing) {
    this.#sink = sink;
    this.#pacing = pacing;
    this.#pty = openTerminal(command, { cols: 80, rows: 24 });
    this.#pty.onData((bytes) => {
      this.#pending.push(bytes);
      if (this.#pending.full) this.#pausePty();
      this.#notify();
    });
    this.#pty.onExit(() => {
      this.#exited = true;
      this.#notify();
    });
    this.done = this.#pump();
  }

  write(bytes: Buffer): void {
    if (!this.#exited) this.#pty.write(bytes);
  }

  resize(cols: number, rows: number): void {
    if (this.#exited || cols <= 0 || rows <= 0) return;
    try {
      this.#pty.resize(cols, rows);
    } catch {
      // The child may exit between the check and the ioctl.
    }
  }

  /** SIGKILL, as the agent's execCmd.Kill() on a cancelled session. */
  kill(): void {
    if (this.#exited || this.#killed) return;
    this.#killed = true;
    this.#ptyPaused = false;
    this.#pty.kill();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #pausePty(): void {
    if (this.#ptyPaused) return;
    this.#ptyPaused = true;
    this.#pty.pause();
  }

  #resumePty(): void {
    if (!this.#ptyPaused) return;
    this.#ptyPaused = false;
    this.#pty.resume();
  }

  /** One read of what the pty produced; resumes the pty once little is left. */
  #read(): Buffer {
    const bytes = this.#pending.read();
    if (this.#pending.low) this.#resumePty();
    return bytes;
  }

  async #pump(): Promise<void> {
    if (this.#pacing === 'realistic') await sleep(INITIAL_WAIT_MS);
    let carry: Buffer = Buffer.alloc(0);
    let sinceYield = 0;
    for (;;) {
      if (this.#pending.bytes === 0) {
        // The agent drops a carry still pending at EOF; so do we (see utf8-carry.ts).
        if (this.#exited) break;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        continue;
      }
      if (!this.#sink.ready()) {
        await sleep(5);
        continue;
      }
      const { send, carry: rest } = splitAtUtf8Boundary(Buffer.concat([carry, this.#read()]));
      carry = rest;
      if (send.length > 0) this.#sink.send(send);
      if (this.#pacing === 'realistic') await sleep(1);
      else if (++sinceYield % 16 === 0) await nextTurn();
    }
  }
}
