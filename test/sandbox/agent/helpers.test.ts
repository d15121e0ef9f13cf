import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containerEnv, resolveCommand } from '../../../sandbox/agent/command.js';
import { ShlexError, shlexSplit } from '../../../sandbox/agent/shlex.js';
import { splitAtUtf8Boundary } from '../../../sandbox/agent/utf8-carry.js';

describe('shlexSplit (google/shlex semantics)', () => {
  it('splits words, quotes and escapes', () => {
    expect(shlexSplit(`sh -c 'echo hello; exit 7'`)).toEqual(['sh', '-c', 'echo hello; exit 7']);
    expect(shlexSplit(`one "two three" four`)).toEqual(['one', 'two three', 'four']);
    expect(shlexSplit(`a\\ b c`)).toEqual(['a b', 'c']);
    expect(shlexSplit(`"a\\"b" 'it''s'`)).toEqual(['a"b', 'its']);
    expect(shlexSplit(`x''y ''`)).toEqual(['xy', '']);
    expect(shlexSplit(' \t\r\n ')).toEqual([]);
  });

  it('differs from POSIX sh where google/shlex does', () => {
    // A backslash escapes any character inside double quotes.
    expect(shlexSplit(`"a\\b"`)).toEqual(['ab']);
    // # starts a comment only at the start of a word; the comment ends at a newline.
    expect(shlexSplit('echo a#b # note\nls')).toEqual(['echo', 'a#b', 'ls']);
    // $VAR and ; are ordinary characters: there is no shell.
    expect(shlexSplit('echo $HOME;ls')).toEqual(['echo', '$HOME;ls']);
  });

  it('throws the Go error texts', () => {
    expect(() => shlexSplit(`echo 'open`)).toThrow(new ShlexError('EOF found when expecting closing quote'));
    expect(() => shlexSplit('echo \\')).toThrow(new ShlexError('EOF found after escape character'));
  });
});

describe('splitAtUtf8Boundary (agent processStdoutData)', () => {
  const euro = Buffer.from('€'); // e2 82 ac

  it('keeps an incomplete character at the end for the next message', () => {
    const bytes = Buffer.concat([Buffer.from('abc'), euro.subarray(0, 2)]);
    const { send, carry } = splitAtUtf8Boundary(bytes);
    expect(send.toString()).toBe('abc');
    expect(carry).toEqual(euro.subarray(0, 2));
    expect(
      splitAtUtf8Boundary(Buffer.concat([carry, euro.subarray(2), Buffer.from('d')])).send.toString(),
    ).toBe('€d');
  });

  it('passes invalid bytes through once they are not at the tail', () => {
    const bytes = Buffer.from([0xff, 0x41, 0x42, 0x43, 0x44]);
    expect(splitAtUtf8Boundary(bytes)).toEqual({ send: bytes, carry: Buffer.alloc(0) });
    expect(splitAtUtf8Boundary(Buffer.from([0x41, 0xff])).carry).toEqual(Buffer.from([0xff]));
  });

  it('reproduces the agent turning a real U+FFFD into one byte', () => {
    const bytes = Buffer.concat([Buffer.from('\ufffd'), Buffer.from('abcd')]);
    expect(splitAtUtf8Boundary(bytes).send).toEqual(Buffer.from([0xef, 0x61, 0x62, 0x63, 0x64]));
  });

  it('sends complete multi-byte text unchanged', () => {
    const text = Buffer.from('héllo wörld 🎉 done');
    expect(splitAtUtf8Boundary(text)).toEqual({ send: text, carry: Buffer.alloc(0) });
  });
});

describe('resolveCommand', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coderdb-agent-'));
  const tool = join(dir, 'tool');
  writeFileSync(tool, '#!/bin/sh\n');
  chmodSync(tool, 0o755);
  const plain = join(dir, 'plain');
  writeFileSync(plain, 'x');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('looks the executable up on the container PATH and builds the agent environment', () => {
    const result = resolveCommand('tool --flag "a b"', { path: [dir], env: { A: '1' } });
    expect(result).toMatchObject({ ok: true, command: { executable: tool, args: ['--flag', 'a b'] } });
    const env = result.ok ? result.command.env : {};
    expect(env).toMatchObject({ A: '1', PATH: dir, TERM: 'xterm-256color', LANG: 'C.UTF-8' });
  });

  it('keeps an explicit LANG and overrides TERM', () => {
    expect(containerEnv({ env: { LANG: 'de_DE.UTF-8', TERM: 'dumb' } })).toMatchObject({
      LANG: 'de_DE.UTF-8',
      TERM: 'xterm-256color',
    });
  });

  it('reports what the agent reports when the command cannot start', () => {
    expect(resolveCommand('psql -X', { path: [dir] })).toEqual({
      ok: false,
      failure:
        'Unable to start command: Failed to start pty: exec: "psql": executable file not found in $PATH\n\n',
    });
    expect(resolveCommand('/nope/psql', { path: [dir] })).toMatchObject({
      failure: expect.stringContaining('fork/exec /nope/psql: no such file or directory'),
    });
    expect(resolveCommand(plain, {})).toMatchObject({
      failure: expect.stringContaining('permission denied'),
    });
    expect(resolveCommand("sh -c 'oops", {})).toMatchObject({
      failure: expect.stringContaining(
        'Failed to parse commands input: EOF found when expecting closing quote',
      ),
    });
  });

  it('runs sh for an empty command', () => {
    expect(resolveCommand('  ', { path: ['/bin', '/usr/bin'] })).toMatchObject({
      ok: true,
      command: { args: [] },
    });
  });
});
