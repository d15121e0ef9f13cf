// The audit log records what coderdb did before the operator sees its result: a read's `started`
// line is written before its rows are printed (an audit log that cannot be written stops the read
// with one line and no row), refusals are recorded with their reason, and exec sessions record who
// ran what in which task, with its exit status and duration.

import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

describe('audit log', () => {
  let sandbox: TestSandbox;
  let log: string;

  beforeAll(async () => {
    sandbox = await startSandbox();
    log = join(sandbox.env.XDG_STATE_HOME!, 'coderdb', 'audit.jsonl');
  }, 240_000);
  afterAll(async () => {
    await sandbox?.stop();
  });

  const entries = (): AuditEntry[] =>
    existsSync(log)
      ? readFileSync(log, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as AuditEntry)
      : [];
  const resetLog = () => rmSync(log, { recursive: true, force: true });

  it('writes a started line before the read runs, and the final one after', async () => {
    resetLog();
    const result = await sandbox.run(['query', 'select 41 + 1 as answer', '--format', 'csv']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('answer\n42\n');
    const lines = entries().filter((entry) => entry.command === 'query');
    expect(lines.map((entry) => entry.outcome)).toEqual(['started', 'ok']);
    expect(lines[1]).toMatchObject({ statement: 'select 41 + 1 as answer', rows: 1 });
  });

  for (const [name, make] of [
    ['a directory in place of the file', () => mkdirSync(log, { recursive: true })],
    ['a full disk (/dev/full)', () => symlinkSync('/dev/full', log)],
  ] as const) {
    it(`stops a read with one line and no row when the log is ${name}`, async () => {
      resetLog();
      mkdirSync(join(log, '..'), { recursive: true });
      make();
      try {
        const result = await sandbox.run(['query', 'select name from templates']);
        expect(result.code).toBe(74);
        expect(result.stdout).toBe('');
        const [first, ...rest] = result.stderr.trimEnd().split('\n');
        expect(first).toMatch(/^coderdb: cannot write the audit log .*audit\.jsonl: (EISDIR|ENOSPC)$/);
        expect(rest.every((line) => line.startsWith('hint:'))).toBe(true);
      } finally {
        resetLog();
      }
    });
  }

  it('records a refused read with its reason and code', async () => {
    resetLog();
    const result = await sandbox.run(['query', "delete from templates where name = 'docker'"]);
    expect(result.code).toBe(4);
    const [refusal] = entries();
    expect(refusal).toMatchObject({
      command: 'query',
      outcome: 'refused',
      statement: "delete from templates where name = 'docker'",
      profile: 'sandbox',
    });
    expect(refusal!.code).toMatch(/^guard\./);
    expect(refusal!.error).toBe(result.stderr.split('\n')[0]!.replace(/^coderdb: /, ''));
    expect(entries()).toHaveLength(1);
  });

  it('records a refused write (no WHERE) once', async () => {
    resetLog();
    const result = await sandbox.run(['query', '--write', '--yes', 'delete from workspace_agent_stats']);
    expect(result.code).toBe(4);
    const refusals = entries().filter((entry) => entry.outcome === 'refused');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ command: 'query', statement: 'delete from workspace_agent_stats' });
    expect(refusals[0]!.error).toBeTruthy();
  });

  it('records an exec session: who, task, container, command, exit status, duration', async () => {
    resetLog();
    const result = await sandbox.run(['exec', '-n', '--', 'sh', '-c', 'echo hi; exit 3']);
    expect(result.code).toBe(3);
    const lines = entries().filter((entry) => entry.command === 'exec');
    expect(lines.map((entry) => entry.outcome)).toEqual(['started', 'ok']);
    const [started, ended] = lines;
    expect(started).toMatchObject({
      container: 'coder',
      statement: "'sh' '-c' 'echo hi; exit 3'",
      transport: 'exec',
    });
    expect(started!.task).toMatch(/^arn:aws:ecs:/);
    expect(started!.identity).toMatch(/^arn:aws:/);
    expect(ended).toMatchObject({ exitStatus: 3, task: started!.task });
    expect(typeof ended!.durationMs).toBe('number');
  });

  it('starts no command in the container when the log cannot be written', async () => {
    resetLog();
    mkdirSync(log, { recursive: true });
    const marker = join(sandbox.dir, 'ran');
    try {
      const result = await sandbox.run(['exec', '-n', '--', 'touch', marker]);
      expect(result.code).toBe(74);
      expect(result.stderr).toMatch(/^coderdb: cannot write the audit log/);
      expect(existsSync(marker)).toBe(false);
    } finally {
      resetLog();
    }
  });
});
