// The pseudo-terminal an exec session's command runs in. The agent on ECS uses a real pty, so the
// sandbox does too: node-pty where it is installed (it is an optional dependency, because it
// compiles from source on Linux and production installs must not need a compiler), otherwise
// util-linux `script`, which puts the command on a pty of its own and relays it through pipes.

import { createRequire } from 'node:module';
import type { ResolvedCommand } from './command.js';
import { nodePtyTerminal } from './terminal-node-pty.js';
import { scriptTerminal } from './terminal-script.js';

export interface Terminal {
  readonly pid: number;
  /** What the pty shows of the command's output, in order; byte for byte. */
  onData(listener: (data: Buffer) => void): void;
  /** The command exited and everything it wrote has been passed to onData. */
  onExit(listener: () => void): void;
  write(data: Buffer): void;
  resize(cols: number, rows: number): void;
  /** Stops reading the pty, so that a command writing faster than the session takes blocks. */
  pause(): void;
  resume(): void;
  kill(): void;
}

export type TerminalKind = 'node-pty' | 'script';

export interface TerminalSize {
  cols: number;
  rows: number;
}

type NodePty = typeof import('node-pty');
let nodePty: NodePty | null | undefined;

/** node-pty when it is installed and its native module loads; null otherwise. */
export function loadNodePty(): NodePty | null {
  if (nodePty === undefined) {
    try {
      nodePty = createRequire(import.meta.url)('node-pty') as NodePty;
    } catch {
      nodePty = null;
    }
  }
  return nodePty;
}

/**
 * Which implementation runs commands: `CODERDB_SANDBOX_PTY=script` picks `script` even where
 * node-pty works, so that the fallback is tested on machines that have both.
 */
export function terminalKind(): TerminalKind {
  if (process.env.CODERDB_SANDBOX_PTY === 'script') return 'script';
  return loadNodePty() ? 'node-pty' : 'script';
}

export function openTerminal(
  command: ResolvedCommand,
  size: TerminalSize,
  kind: TerminalKind = terminalKind(),
): Terminal {
  const pty = kind === 'node-pty' ? loadNodePty() : null;
  return pty ? nodePtyTerminal(pty, command, size) : scriptTerminal(command, size);
}
