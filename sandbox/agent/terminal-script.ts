// util-linux `script` as the sandbox's terminal where node-pty is not installed: it opens a pty,
// runs the command on it as the session leader, and relays the pty through its stdin and stdout.
// Resizing goes through `stty -F` on the command's terminal, whose TIOCSWINSZ makes the kernel
// send SIGWINCH to the foreground process group, as a resize of a node-pty terminal does.

import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import type { ResolvedCommand } from './command.js';
import type { Terminal, TerminalSize } from './terminal.js';
import { hangUp } from './terminal-hangup.js';

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export function scriptTerminal(command: ResolvedCommand, size: TerminalSize): Terminal {
  // `script -c` runs its text with $SHELL; a POSIX shell sets the size, puts SHELL back as the
  // container had it, and then becomes the command itself.
  const restoreShell =
    command.env.SHELL === undefined ? 'unset SHELL' : `export SHELL=${shellQuote(command.env.SHELL)}`;
  const text = [
    `stty cols ${size.cols} rows ${size.rows} 2>/dev/null`,
    restoreShell,
    `exec ${[command.executable, ...command.args].map(shellQuote).join(' ')}`,
  ].join('; ');
  const child = spawn(
    'script',
    ['--quiet', '--flush', '--return', '--echo', 'always', '--command', text, '/dev/null'],
    {
      cwd: command.cwd,
      env: { ...command.env, SHELL: '/bin/sh' },
      stdio: ['pipe', 'pipe', 'ignore'],
    },
  );
  child.stdin.on('error', () => undefined);
  let exited = false;
  child.once('close', () => {
    exited = true;
  });

  /** The command on the pty (the shell that exec'd it), once script has started it. */
  const commandPid = (): number | undefined => {
    try {
      const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim();
      const pid = Number(children.split(/\s+/)[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };

  return {
    pid: child.pid ?? -1,
    onData: (listener) => child.stdout.on('data', (data: Buffer) => listener(data)),
    // 'close' comes after the last of stdout, so nothing the command wrote is still on its way.
    onExit: (listener) => child.once('close', () => listener()),
    write(data) {
      if (!exited) child.stdin.write(data);
    },
    resize(cols, rows) {
      const pid = commandPid();
      if (pid === undefined) return;
      let tty: string;
      try {
        tty = readlinkSync(`/proc/${pid}/fd/0`);
      } catch {
        return;
      }
      if (!tty.startsWith('/dev/pts/')) return;
      spawn('stty', ['-F', tty, 'cols', String(cols), 'rows', String(rows)], { stdio: 'ignore' }).on(
        'error',
        () => undefined,
      );
    },
    pause: () => child.stdout.pause(),
    resume: () => child.stdout.resume(),
    kill() {
      child.stdout.resume();
      const pid = commandPid();
      hangUp((signal) => {
        if (pid !== undefined) process.kill(pid, signal);
        else child.kill(signal);
      });
    },
  };
}
