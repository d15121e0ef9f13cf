// Both terminals the sandbox's agent can run commands in (node-pty, and util-linux `script` where
// node-pty is not installed) must behave like one real pty: the same bytes out, input echoed by
// the line discipline, sizes the command can read, and a kill that ends the command.

import { describe, expect, it } from 'vitest';
import type { ResolvedCommand } from '../../../sandbox/agent/command.js';
import {
  loadNodePty,
  openTerminal,
  type Terminal,
  type TerminalKind,
} from '../../../sandbox/agent/terminal.js';

const KINDS: TerminalKind[] = ['node-pty', 'script'];

function command(script: string): ResolvedCommand {
  return {
    executable: '/bin/sh',
    args: ['-c', script],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color', LANG: 'C.UTF-8' },
    cwd: process.cwd(),
  };
}

/** Everything the terminal shows until the command exits (at most 20 s). */
function collect(terminal: Terminal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  terminal.onData((data) => chunks.push(data));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the command did not exit within 20 s')), 20_000);
    terminal.onExit(() => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

const waitFor = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
};

describe.each(KINDS)('the %s terminal', (kind) => {
  const available = kind === 'script' || loadNodePty() !== null;

  it.skipIf(!available)(
    'passes output through byte for byte, with the pty turning \\n into \\r\\n',
    async () => {
      const terminal = openTerminal(
        command("printf 'a\\tb\\n\\303\\251\\001\\n'"),
        { cols: 80, rows: 24 },
        kind,
      );
      expect(await collect(terminal)).toEqual(Buffer.from('a\tb\r\n\u00e9\u0001\r\n', 'utf8'));
    },
  );

  it.skipIf(!available)('starts at the size it was given and follows a resize', async () => {
    const terminal = openTerminal(command('stty size; read line; stty size'), { cols: 100, rows: 30 }, kind);
    const output = collect(terminal);
    let seen = '';
    terminal.onData((data) => {
      seen += data.toString('utf8');
    });
    await waitFor(() => seen.includes('30 100'), 'the first size');
    terminal.resize(132, 43);
    // The resize is asynchronous with the script terminal; give it a moment before reading again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    terminal.write(Buffer.from('go\r'));
    const text = (await output).toString('utf8');
    expect(text).toContain('30 100');
    expect(text).toContain('go\r\n');
    expect(text.trim().endsWith('43 132')).toBe(true);
  });

  it.skipIf(!available)('echoes input through the line discipline, as a terminal does', async () => {
    const terminal = openTerminal(command('read line; echo "got:$line"'), { cols: 80, rows: 24 }, kind);
    const output = collect(terminal);
    terminal.write(Buffer.from('hello\r'));
    expect((await output).toString('utf8')).toBe('hello\r\ngot:hello\r\n');
  });

  it.skipIf(!available)('loses nothing of a large output read slowly', async () => {
    const terminal = openTerminal(command('seq 1 200000'), { cols: 80, rows: 24 }, kind);
    const output = collect(terminal);
    terminal.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    terminal.resume();
    const lines = (await output).toString('utf8').split('\r\n');
    expect(lines.length).toBe(200001);
    expect(lines[199999]).toBe('200000');
  });

  it.skipIf(!available)('kill ends the command', async () => {
    const terminal = openTerminal(command('echo ready; sleep 60'), { cols: 80, rows: 24 }, kind);
    let seen = '';
    terminal.onData((data) => {
      seen += data.toString('utf8');
    });
    const output = collect(terminal);
    await waitFor(() => seen.includes('ready'), 'the command to start');
    terminal.kill();
    expect((await output).toString('utf8')).toContain('ready');
  });
});
