// node-pty as the sandbox's terminal, with the two guards it needs to lose no output on Linux.

import { closeSync, constants, openSync } from 'node:fs';
import type { IPty } from 'node-pty';
import type { ResolvedCommand } from './command.js';
import type { Terminal, TerminalSize } from './terminal.js';
import { hangUp } from './terminal-hangup.js';

export function nodePtyTerminal(
  pty: typeof import('node-pty'),
  command: ResolvedCommand,
  size: TerminalSize,
): Terminal {
  const term = pty.spawn(command.executable, command.args, {
    name: 'xterm-256color',
    cols: size.cols,
    rows: size.rows,
    cwd: command.cwd,
    env: command.env,
    // Buffers, not strings: output must reach the client byte for byte.
    encoding: null,
  });
  // node-pty reads the master non-blocking through libuv, which on Linux can see end-of-file
  // while the child's last output is still on its way, and drops it. Holding the slave side open
  // ourselves means the master never hits end-of-file; node-pty then finishes reading and closes
  // the pty 200 ms after the child exits, with everything read.
  let slaveFd: number | undefined;
  const ptsName = (term as IPty & { ptsName?: string }).ptsName;
  try {
    if (ptsName) slaveFd = openSync(ptsName, constants.O_RDWR | constants.O_NOCTTY);
  } catch {
    // The child already exited and hung up the pty; its output is (almost always) tiny.
  }
  let exited = false;
  let paused = false;
  let liveness: NodeJS.Timeout | undefined;
  const resume = () => {
    if (!paused) return;
    paused = false;
    clearInterval(liveness);
    term.resume();
  };
  term.onExit(() => {
    exited = true;
    clearInterval(liveness);
    if (slaveFd !== undefined) closeSync(slaveFd);
    slaveFd = undefined;
  });
  return {
    pid: term.pid,
    onData: (listener) =>
      term.onData((data: string | Buffer) =>
        listener(typeof data === 'string' ? Buffer.from(data, 'utf8') : data),
      ),
    onExit: (listener) => term.onExit(() => listener()),
    write: (data) => term.write(data as unknown as string),
    resize: (cols, rows) => term.resize(cols, rows),
    pause() {
      if (paused || exited) return;
      paused = true;
      term.pause();
      // node-pty destroys an unread pty 200 ms after the child exits, losing what is left; so
      // while paused, watch for the exit and resume at once to read the rest.
      liveness = setInterval(() => {
        try {
          process.kill(term.pid, 0);
        } catch {
          resume();
        }
      }, 20);
    },
    resume,
    kill() {
      resume();
      hangUp((signal) => term.kill(signal));
    },
  };
}
