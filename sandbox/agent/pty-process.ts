// Runs an exec session's command in a real pty (node-pty), as the agent does with creack/pty, and
// feeds its output to the session the way the agent's writePump does: reads of at most 1024 bytes,
// a UTF-8 carry between reads, and (when paced) a 1 ms sleep after each message plus the initial
// 1 s wait. The pump only moves as fast as the session can take messages, and the pty is paused
// when too much output is waiting, so a fast command blocks on its terminal like it would on ECS.

import { closeSync, constants, openSync } from 'node:fs';
import pty, { type IPty } from 'node-pty';
import type { ResolvedCommand } from './command.js';
import { OutputQueue } from './output-queue.js';
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
  readonly #pty: IPty;
  readonly #sink: OutputSink;
  readonly #pacing: Pacing;
  readonly #pending = new OutputQueue();
  #exited = false;
  #ptyPaused = false;
  #killed = false;
  #wake: (() => void) | undefined;
  #liveness: NodeJS.Timeout | undefined;
  #slaveFd: number | undefined;
  /** Resolves once the child has exited and every byte it wrote has been handed to the sink. */
  readonly done: Promise<void>;

  constructor(command: ResolvedCommand, sink: OutputSink, pacing: Pacing) {
    this.#sink = sink;
    this.#pacing = pacing;
    this.#pty = pty.spawn(command.executable, command.args, {
      name: 'xterm-256color',
      cols: 80,
      rows: 24,
      cwd: command.cwd,
      env: command.env,
      // Buffers, not strings: output must reach the client byte for byte.
      encoding: null,
    });
    this.#pty.onData((data: string | Buffer) => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      this.#pending.push(bytes);
      if (this.#pending.full) this.#pausePty();
      this.#notify();
    });
    // node-pty reads the master non-blocking through libuv, which on Linux can see end-of-file
    // while the child's last output is still on its way, and drops it. Holding the slave side open
    // ourselves means the master never hits end-of-file; node-pty then finishes reading and closes
    // the pty 200 ms after the child exits, with everything read.
    const ptsName = (this.#pty as IPty & { ptsName?: string }).ptsName;
    try {
      if (ptsName) this.#slaveFd = openSync(ptsName, constants.O_RDWR | constants.O_NOCTTY);
    } catch {
      // The child already exited and hung up the pty; its output is (almost always) tiny.
    }
    this.#pty.onExit(() => {
      this.#exited = true;
      this.#closeSlave();
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
    this.#resumePty();
    this.#pty.kill('SIGKILL');
  }

  #closeSlave(): void {
    if (this.#slaveFd === undefined) return;
    closeSync(this.#slaveFd);
    this.#slaveFd = undefined;
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
    // node-pty destroys an unread pty 200 ms after the child exits, losing what is left; so while
    // paused, watch for the exit and resume at once to read the rest.
    this.#liveness = setInterval(() => {
      try {
        process.kill(this.#pty.pid, 0);
      } catch {
        this.#resumePty();
      }
    }, 20);
  }

  #resumePty(): void {
    if (!this.#ptyPaused) return;
    this.#ptyPaused = false;
    clearInterval(this.#liveness);
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
    clearInterval(this.#liveness);
  }
}
