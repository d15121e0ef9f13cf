// coderdb psql, shell and exec driven from a real terminal: node-pty runs the built CLI (or a local
// sh that runs it, to see the terminal settings before and after) against the sandbox, whose agent
// runs the remote side in a real pty too. Every wait is bounded; a failed wait shows the output.

import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { TerminalUnderTest } from '../helpers/terminal.js';

/** Single-quoted for a local sh command line. */
const q = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

describe('interactive sessions in a real terminal', () => {
  let sandbox: TestSandbox;
  const terminals: TerminalUnderTest[] = [];
  const open = (file: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const terminal = new TerminalUnderTest(file, args, { ...sandbox.env, ...env });
    terminals.push(terminal);
    return terminal;
  };
  /** A local sh that runs `coderdb <args>`, then reports its status and whether the tty is as before. */
  const openInLocalShell = async (args: string) => {
    const local = open('/bin/sh', [], { PS1: 'local> ' });
    await local.expect(/local> $/);
    local.write(
      `B=$(stty -g); ${q(process.execPath)} ${q(CLI)} ${args}; R=$?; A=$(stty -g); ` +
        `echo "cdb-rc=$R"; [ "$A" = "$B" ] && echo "term-re""stored"\r`,
    );
    return local;
  };

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterEach(() => {
    for (const terminal of terminals.splice(0)) terminal.kill();
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('psql runs a query typed at its prompt and \\q ends coderdb with status 0', async () => {
    const psql = open(process.execPath, [CLI, 'psql']);
    await psql.expect(/starting a session in task \w+ \(container coder\)/);
    await psql.expect(/=# $/);
    psql.write('select 40+2 as answer;\r');
    const result = await psql.expect(/answer\s*\r\n-+\r\n\s*(\d+)\s*\r\n\(1 row\)/);
    expect(result[1]).toBe('42');
    await psql.expect(/=# $/);
    psql.write('\\q\r');
    expect((await psql.exit()).exitCode).toBe(0);
  });

  it('shell: raw passthrough, resize, ^C reaches the remote command, exit ends coderdb', async () => {
    const local = await openInLocalShell('shell');
    local.write('echo "rea""dy"\r');
    await local.expect(/ready\r\n/);

    local.resize(100, 40);
    // SIGWINCH and the typed line race inside coderdb; ask until the new size is seen.
    let size = '';
    for (let attempt = 0; attempt < 20 && size !== '40 100'; attempt++) {
      local.write('echo "size:$(stty size):end"\r');
      size = (await local.expect(/size:(\d+ \d+):end\r\n/))[1] ?? '';
    }
    expect(size).toBe('40 100');

    local.write('echo "sta""rted"; sleep 30; echo "sleep-""finished"\r');
    await local.expect(/started\r\n/);
    // The remote shell prints "started" before it has made sleep the terminal's foreground job; a
    // ^C in between goes to the shell alone. So ^C until the command is interrupted (bounded).
    local.write('\x03');
    local.write('echo "rc=$?"\r');
    // 130: sleep was killed by SIGINT; and coderdb is still there to carry the next command.
    for (let attempt = 1; ; attempt++) {
      try {
        await local.expect(/rc=130\r\n/, 3_000);
        break;
      } catch (error) {
        if (attempt >= 5) throw error;
        local.write('\x03');
      }
    }
    expect(local.recent).not.toContain('sleep-finished');

    local.write('exit\r');
    await local.expect(/cdb-rc=0\r\n/);
    await local.expect(/term-restored/);
    local.write('exit\r');
    expect((await local.exit()).exitCode).toBe(0);
    // Raw output: the remote pty's CR LF reaches the terminal as is, not as CR CR LF.
    expect(local.all).not.toContain('\r\r\n');
  });

  it("shell ends coderdb with the remote shell's exit status", async () => {
    const local = await openInLocalShell('shell');
    local.write('echo "rea""dy"\r');
    await local.expect(/ready\r\n/);
    local.write('exit 7\r');
    await local.expect(/cdb-rc=7\r\n/);
    await local.expect(/term-restored/);
    local.write('exit\r');
    await local.exit();
    // The status line itself never reaches the terminal.
    expect(local.all).not.toContain(':rc:');

    const command = open(process.execPath, [CLI, 'shell', '--command', 'sh -c "echo sh-""ran; exit 3"']);
    await command.expect(/sh-ran\r\n/);
    expect((await command.exit()).exitCode).toBe(3);
  });

  it('SIGTERM during a session ends coderdb with 130 and restores the terminal', async () => {
    const local = await openInLocalShell('shell');
    local.write('echo "rea""dy"\r');
    await local.expect(/ready\r\n/);
    const children = readFileSync(`/proc/${local.pid}/task/${local.pid}/children`, 'utf8').trim();
    const coderdb = Number(children.split(/\s+/)[0]);
    expect(coderdb).toBeGreaterThan(0);
    process.kill(coderdb, 'SIGTERM');
    await local.expect(/cdb-rc=130\r\n/);
    await local.expect(/term-restored/);
    local.write('exit\r');
    await local.exit();
  });

  it('exec from a terminal: ^C interrupts the remote command and its 130 comes back', async () => {
    const exec = open(process.execPath, [CLI, 'exec', '--', 'sh', '-c', 'echo "sta""rted"; sleep 30']);
    await exec.expect(/started\r\n/);
    exec.write('\x03');
    expect((await exec.exit()).exitCode).toBe(130);
  });
});
