// coderdb exec against the sandbox, with pipes as stdin and stdout: the real exit status comes back,
// output and piped input are byte-exact (compared as bytes, never decoded), arguments survive the
// agent's split and the shell, and the status marker never leaks into the output.

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

interface RawResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

interface RawOptions {
  input?: Buffer | string;
  /** Leave stdin open (never end it): the command must not wait for it. */
  keepStdinOpen?: boolean;
  timeoutMs?: number;
}

describe('coderdb exec', () => {
  let sandbox: TestSandbox;

  /** Runs the CLI with stdout kept as bytes. */
  const exec = (args: string[], options: RawOptions = {}) =>
    new Promise<RawResult>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'exec', ...args], {
        env: sandbox.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`coderdb exec ${args.join(' ')} did not finish`));
      }, options.timeoutMs ?? 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        child.stdin.destroy();
        resolve({ code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString('utf8') });
      });
      child.stdin.on('error', () => undefined);
      if (options.input !== undefined) child.stdin.write(options.input);
      if (!options.keepStdinOpen) child.stdin.end();
    });

  /** No marker, no status line, no status text on stderr (it is not a terminal). */
  const expectClean = (result: RawResult) => {
    expect(result.stdout.includes('CODERDB_')).toBe(false);
    expect(result.stdout.includes(0x1e)).toBe(false);
    expect(result.stderr).not.toContain('CODERDB_');
    expect(result.stderr).not.toContain('starting a session');
  };

  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('returns the command’s real exit status: 0, 1, 7, 127, 130', async () => {
    const cases: Array<[string[], number]> = [
      [['true'], 0],
      [['false'], 1],
      [['sh', '-c', 'exit 7'], 7],
      [['no-such-command-coderdb'], 127],
      [['sh', '-c', 'kill -INT $$'], 130],
      [['sh', '-c', 'echo partial; exit 130'], 130],
    ];
    const results = await Promise.all(cases.map(([argv]) => exec(['--', ...argv])));
    results.forEach((result, index) => {
      expect({ argv: cases[index]![0], code: result.code }).toEqual({
        argv: cases[index]![0],
        code: cases[index]![1],
      });
      expectClean(result);
    });
    expect(results[3]!.stdout.toString()).toMatch(/no-such-command-coderdb: not found\n$/);
    expect(results[5]!.stdout.toString()).toBe('partial\n');
  });

  it('gives output byte for byte: every byte value, CR LF kept, no trailing newline added', async () => {
    const all = Array.from({ length: 256 }, (_, byte) => `\\${byte.toString(8).padStart(3, '0')}`).join('');
    const bytes = await exec(['--', 'printf', all]);
    expect(bytes.code).toBe(0);
    expect(bytes.stdout.equals(Buffer.from(Array.from({ length: 256 }, (_, byte) => byte)))).toBe(true);

    const text = await exec(['--', 'printf', 'a\\r\\nb\\n\\nc']);
    expect(text.stdout.toString('latin1')).toBe('a\r\nb\n\nc');
    expectClean(text);
  });

  it('carries 1 MiB of output intact', async () => {
    const lines = Array.from({ length: 200_000 }, (_, index) => `${index + 1}\n`).join('');
    const expected = Buffer.from(lines).subarray(0, 1024 * 1024);
    const result = await exec(['--', 'sh', '-c', 'seq 1 200000 | head -c 1048576']);
    expect(result.code).toBe(0);
    expect(result.stdout.length).toBe(1024 * 1024);
    expect(createHash('sha256').update(result.stdout).digest('hex')).toBe(
      createHash('sha256').update(expected).digest('hex'),
    );
    expectClean(result);
  });

  it('passes every argument through unchanged', async () => {
    const args = ['a b', "it's", '$HOME', '*', '', '"q"', 'new\nline', '#x', '\\back', '; exit 3', 'ünï'];
    const result = await exec(['--', 'printf', '%s|', ...args]);
    expect(result.code).toBe(0);
    expect(result.stdout.toString('utf8')).toBe(`${args.join('|')}|`);
  });

  it('sends piped stdin to the command, binary and all, and ends it', async () => {
    const input = randomBytes(200 * 1024);
    const result = await exec(['--', 'cat'], { input });
    expect(result.code).toBe(0);
    expect(result.stdout.equals(input)).toBe(true);

    const line = await exec(['--', 'sh', '-c', 'read first; echo "got:$first"; wc -l'], {
      input: 'one\ntwo\nthree\n',
    });
    expect(line.stdout.toString()).toBe('got:one\n2\n');

    const empty = await exec(['--', 'cat']);
    expect(empty.code).toBe(0);
    expect(empty.stdout.length).toBe(0);
  });

  it('does not wait for stdin the command does not read; -n gives it /dev/null', async () => {
    // Like `yes | coderdb exec -- head -c 5`: the command is done long before its input.
    const early = await exec(['--', 'head', '-c', '5'], {
      input: 'y\n'.repeat(64 * 1024),
      keepStdinOpen: true,
    });
    expect(early.code).toBe(0);
    expect(early.stdout.toString()).toBe('y\ny\ny');

    const unread = await exec(['--', 'sh', '-c', 'exit 4'], { keepStdinOpen: true });
    expect(unread.code).toBe(4);

    const noStdin = await exec(['-n', '--', 'cat'], { input: 'not sent', keepStdinOpen: true });
    expect(noStdin.code).toBe(0);
    expect(noStdin.stdout.length).toBe(0);
  });

  it('merges the command’s stderr into stdout, as a terminal does', async () => {
    const result = await exec(['--', 'sh', '-c', 'echo out; echo err >&2; exit 2']);
    expect(result.code).toBe(2);
    expect(result.stdout.toString()).toBe('out\nerr\n');
    expectClean(result);
  });
});
