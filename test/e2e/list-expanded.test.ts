// List commands as psql shows results: `-x` prints psql's expanded records (compared byte for byte
// with `psql -x -c` on the very statement the command ran, read back from the audit log), and on a
// terminal output taller or wider than it goes through $PAGER (a fake one here, in a real pty).

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { TerminalUnderTest } from '../helpers/terminal.js';

/** List commands whose output does not change between two runs (no clocks, no sessions). */
const LISTS = [
  ['templates', 'list'],
  ['templates', 'search', 'Coder'],
  ['users', 'list'],
  ['workspaces', 'list'],
  ['workspaces', 'count'],
  ['tables'],
];

/** psql 15 with coderdb's session settings, through libpq's environment; stdout as bytes. */
function psql(url: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url, ...args], {
      env: { PATH: process.env.PATH, PGTZ: 'UTC', PGDATESTYLE: 'ISO, MDY' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`psql failed (${code}): ${err}`));
    });
  });
}

describe('list commands: -x and the pager', () => {
  let sandbox: TestSandbox;
  const terminals: TerminalUnderTest[] = [];

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite' });
  });
  afterEach(() => {
    for (const terminal of terminals.splice(0)) terminal.kill();
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  const lastStatement = async (): Promise<string> => {
    const audit = await sandbox.run(['audit', '--format', 'json', '--limit', '1']);
    return (JSON.parse(audit.stdout) as { statement: string }[])[0]!.statement;
  };

  it('-x prints what psql -x prints for the same statement, byte for byte', async () => {
    for (const args of LISTS) {
      const ours = await sandbox.run([...args, '-x']);
      expect(ours.code, `${args.join(' ')}: ${ours.stderr}`).toBe(0);
      const reference = await psql(sandbox.state.databaseUrl, ['-x', '-c', await lastStatement()]);
      // psql -c ends every aligned result with a blank line; coderdb's table format never does.
      expect(`${ours.stdout}\n`, args.join(' ')).toBe(reference.toString('utf8'));
      expect(ours.stdout).toMatch(/^-\[ RECORD 1 \][-+]*\n/);
    }
  });

  it('-x keeps --limit, and is refused with another format in one line', async () => {
    const limited = await sandbox.run(['templates', 'list', '-x', '--limit', '2']);
    expect(limited.code).toBe(0);
    expect(limited.stdout).toContain('-[ RECORD 2 ]');
    expect(limited.stdout).not.toContain('-[ RECORD 3 ]');
    expect(limited.stderr).toContain('(2 of 5 rows; --limit 2)');
    const json = await sandbox.run(['templates', 'list', '--expanded', '--format', 'json']);
    expect(json.code).toBe(2);
    expect(json.stdout).toBe('');
    expect(json.stderr.split('\n')[0]).toBe(
      'coderdb: -x/--expanded is a layout of the table format, not of json',
    );
  });

  /** Runs a list command in a pty of that size with a pager that records what it was given. */
  const inTerminal = async (args: string[], size: { cols: number; rows: number }, pager?: string) => {
    const paged = join(sandbox.dir, `paged-${terminals.length}.txt`);
    rmSync(paged, { force: true });
    const terminal = new TerminalUnderTest(
      process.execPath,
      [CLI, ...args],
      { ...sandbox.env, NO_COLOR: '1', PAGER: pager ?? `cat > '${paged}'` },
      size,
    );
    terminals.push(terminal);
    const { exitCode } = await terminal.exit(60_000);
    return {
      exitCode,
      screen: terminal.all,
      paged: existsSync(paged) ? readFileSync(paged, 'utf8') : undefined,
    };
  };

  it('pages output wider or taller than the terminal through $PAGER, and prints what fits', async () => {
    const plain = await sandbox.run(['templates', 'list']);
    const expanded = await sandbox.run(['templates', 'list', '-x']);

    // The table is wider than 80 columns: the pager gets exactly what a pipe gets.
    const wide = await inTerminal(['templates', 'list'], { cols: 80, rows: 24 });
    expect(wide.exitCode).toBe(0);
    expect(wide.paged).toBe(plain.stdout);
    expect(wide.screen).not.toContain('docker');

    // -x is narrow but 50 lines tall: paged on 24 rows …
    const tall = await inTerminal(['templates', 'list', '-x'], { cols: 80, rows: 24 });
    expect(tall.exitCode).toBe(0);
    expect(tall.paged).toBe(expanded.stdout);

    // … and printed as it is on a terminal it fits.
    const fits = await inTerminal(['templates', 'list', '-x'], { cols: 100, rows: 60 });
    expect(fits.exitCode).toBe(0);
    expect(fits.paged).toBeUndefined();
    expect(fits.screen.replace(/\r\n/g, '\n')).toContain(expanded.stdout);

    // An empty $PAGER means no pager, as for psql.
    const off = await inTerminal(['templates', 'list'], { cols: 80, rows: 24 }, '');
    expect(off.exitCode).toBe(0);
    expect(off.screen.replace(/\r\n/g, '\n')).toContain(plain.stdout);
  });

  it('never pages output that is not a terminal', async () => {
    const marker = join(sandbox.dir, 'never-paged.txt');
    const piped = await sandbox.run(['tables', '-x'], { env: { PAGER: `touch '${marker}'; cat` } });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toContain('-[ RECORD 1 ]');
    expect(existsSync(marker)).toBe(false);
  });
});
