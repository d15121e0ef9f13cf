// Operator input that is too large, malformed or not UTF-8 ends with one line and exit status 2,
// through the real CLI: sizes are checked while reading (/dev/zero never ends), undo files are
// validated before use, and an argument with an invalid byte is refused like such a file.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, type CliResult, createHome } from '../helpers/cli.js';

const home = createHome();
afterAll(() => home.remove());
// Nothing listens there: every case must fail before coderdb tries to connect.
const URL = 'postgresql://nobody@127.0.0.1:9/none';

function expectOneLine(result: CliResult, message: RegExp): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(message);
  expect(lines.filter((line) => !line.startsWith('hint:'))).toHaveLength(1);
}

/** Runs the CLI through sh so that an argument can carry a raw byte that is not UTF-8. */
function runThroughShell(script: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], {
      env: { ...home.env, NODE: process.execPath, CLI },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

describe('size limits checked while reading', () => {
  it('--config /dev/zero', async () => {
    expectOneLine(
      await home.cli(['--config', '/dev/zero', 'tables']),
      /config file \/dev\/zero is larger than 1 MiB/,
    );
  });

  it('undo /dev/zero', async () => {
    expectOneLine(await home.cli(['undo', '/dev/zero']), /undo file \/dev\/zero is larger than 256 MiB/);
  });

  it('query -f /dev/zero', async () => {
    expectOneLine(
      await home.cli(['--url', URL, 'query', '-f', '/dev/zero']),
      /the SQL file \/dev\/zero is larger than 64 MiB/,
    );
  });

  it('query on an endless stdin', async () => {
    const result = await runThroughShell(
      '"$NODE" "$CLI" --url postgresql://nobody@127.0.0.1:9/none query < /dev/zero',
    );
    expectOneLine(result, /the SQL on stdin is larger than 64 MiB/);
  });
});

describe('malformed undo files', () => {
  const cases: [string, string, RegExp][] = [
    [
      'truncated JSON',
      '{"format":"coderdb-undo/1","statements":[',
      /not a coderdb undo file \(not valid JSON\)/,
    ],
    ['not an object', '[1,2]', /not a JSON object/],
    ['another format', '{"format":"other"}', /format is not coderdb-undo\/1/],
    [
      'a statement without a table',
      JSON.stringify({
        format: 'coderdb-undo/1',
        createdAt: 'x',
        command: 'query',
        profile: 'p',
        transport: 'direct',
        database: 'coder',
        statements: [{ sql: 'update t set a = 1', dml: 'update', before: [], after: [] }],
      }),
      /statement 1 has no valid "table"/,
    ],
    ['not UTF-8', Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1'), /not valid JSON/],
  ];
  for (const [name, text, message] of cases) {
    it(name, async () => {
      const file = join(home.dir, `${name.replace(/\W+/g, '-')}.json`);
      writeFileSync(file, Buffer.from(text, 'latin1'));
      expectOneLine(await home.cli(['undo', file]), message);
    });
  }

  it('a directory', async () => {
    expectOneLine(await home.cli(['undo', home.dir]), /cannot read undo file .*: EISDIR/);
  });
});

describe('arguments that are not UTF-8', () => {
  it('refuses SQL with an invalid byte in the argument', async () => {
    const result = await runThroughShell(`"$NODE" "$CLI" --url ${URL} query "select '$(printf '\\351')'"`);
    expectOneLine(result, /argument 4 is not valid UTF-8/);
  });

  it('lets valid UTF-8 through to the connection', async () => {
    const result = await runThroughShell(`"$NODE" "$CLI" --url ${URL} query "select 'é'"`);
    expect(result.stderr).not.toMatch(/UTF-8/);
    expect(result.code).toBe(3);
  });
});
