// The audit log is hash-chained: `coderdb audit verify` names every record edited, removed,
// inserted or reordered by hand, accepts logs written before the chain, and concurrent coderdb
// processes appending at once extend one chain. `coderdb audit`'s filters select what they say.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/audit.js';
import { recordHash } from '../../src/core/audit-chain.js';
import { REPO } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

/** A node process appending `count` records through the built library's AuditLog. */
function appendMany(env: NodeJS.ProcessEnv, id: number, count: number): Promise<void> {
  const script = `
    const { AuditLog } = await import(${JSON.stringify(join(REPO, 'dist', 'index.js'))});
    const log = new AuditLog();
    for (let i = 0; i < ${count}; i++) {
      log.append({ profile: 'stress', transport: 'direct', command: 'query', statement: 'select ${id}', outcome: 'ok' });
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`appender ${id} exited ${code}: ${stderr}`));
    });
  });
}

describe('audit chain', () => {
  let sandbox: TestSandbox;
  let log: string;
  let original: string;

  const lines = () => readFileSync(log, 'utf8').split('\n').filter(Boolean);
  const records = () => lines().map((line) => JSON.parse(line) as AuditEntry);
  /** Runs `audit verify` on a tampered copy of the log, then puts the original back. */
  const verifyTampered = async (tamper: (lines: string[]) => string[]) => {
    writeFileSync(log, `${tamper(original.split('\n').filter(Boolean)).join('\n')}\n`);
    try {
      return await sandbox.run(['audit', 'verify']);
    } finally {
      writeFileSync(log, original);
    }
  };

  beforeAll(async () => {
    sandbox = await startSandbox();
    log = join(sandbox.env.XDG_STATE_HOME!, 'coderdb', 'audit.jsonl');
    for (const sql of ['select 1 as one', 'select\n  name\nfrom templates', 'delete from templates']) {
      await sandbox.run(['query', sql]);
    }
    const write = await sandbox.run([
      'query',
      "update templates set description = 'chained' where name = 'docker'",
      '--write',
      '--yes',
      '--reason',
      'issue 13 test',
    ]);
    expect(write.code, write.stderr).toBe(0);
    original = readFileSync(log, 'utf8');
  }, 300_000);
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('chains every record: seq 1, 2, 3 … each prev the hash of the one before', async () => {
    const all = records();
    expect(all.length).toBeGreaterThanOrEqual(7);
    all.forEach((record, i) => {
      expect(record.seq).toBe(i + 1);
      expect(record.prev).toBe(i === 0 ? '0'.repeat(64) : all[i - 1]!.hash);
      expect(record.hash).toBe(recordHash(record as unknown as Record<string, unknown>));
    });
    const result = await sandbox.run(['audit', 'verify']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${log}: intact, ${all.length} chained records\n`);
  });

  it('names an edited record', async () => {
    const result = await verifyTampered((l) =>
      l.map((line, i) => (i === 2 ? line.replace('"query"', '"xquery"') : line)),
    );
    expect(result.code).toBe(5);
    expect(result.stdout).toBe('line 3 (seq 3): edited (its content does not match its hash)\n');
    expect(result.stderr).toMatch(/^coderdb: .*: 1 break in the hash chain of \d+ records\n$/);
  });

  it('names the record after one edited with its hash recomputed', async () => {
    const result = await verifyTampered((l) =>
      l.map((line, i) => {
        if (i !== 2) return line;
        const record = { ...JSON.parse(line), statement: 'select 2' };
        return JSON.stringify({ ...record, hash: recordHash(record) });
      }),
    );
    expect(result.code).toBe(5);
    expect(result.stdout).toBe(
      'line 4 (seq 4): prev does not match the hash of line 3 (seq 3) (edited or inserted)\n',
    );
  });

  it('names a removed record', async () => {
    const result = await verifyTampered((l) => l.filter((_, i) => i !== 2));
    expect(result.code).toBe(5);
    expect(result.stdout).toBe('line 3 (seq 4): seq 3 missing before it (removed or reordered)\n');
  });

  it('names inserted records, copied or forged', async () => {
    const copied = await verifyTampered((l) => [...l.slice(0, 4), l[1]!, ...l.slice(4)]);
    expect(copied.code).toBe(5);
    expect(copied.stdout).toBe(
      'line 5 (seq 2): out of order or duplicated (after seq 4 on line 4) (reordered or inserted)\n',
    );
    const forged = await verifyTampered((l) => {
      const { seq: _s, prev: _p, hash: _h, ...plain } = JSON.parse(l[1]!);
      return [...l.slice(0, 2), JSON.stringify(plain), ...l.slice(2)];
    });
    expect(forged.code).toBe(5);
    expect(forged.stdout).toBe('line 3: a record without seq/prev/hash inside the chain (inserted)\n');
  });

  it('names reordered records', async () => {
    const result = await verifyTampered((l) => [l[0]!, l[2]!, l[1]!, ...l.slice(3)]);
    expect(result.code).toBe(5);
    expect(result.stdout).toBe(
      'line 2 (seq 3): seq 2 missing before it (removed or reordered)\n' +
        'line 3 (seq 2): out of order or duplicated (after seq 3 on line 2) (reordered or inserted)\n',
    );
  });

  it('reports records written before the chain as unchained, not as tampering', async () => {
    const result = await verifyTampered((l) => [
      '{"time":"2026-01-01T00:00:00.000Z","user":"old","profile":"p","transport":"direct","command":"query","outcome":"ok"}',
      '{"time":"2026-01-01T00:00:01.000Z","user":"old","profile":"p","transport":"direct","command":"query","outcome":"ok"}',
      ...l,
    ]);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(
      /: intact, \d+ chained records; unchained before line 3 \(written before the chain\)\n$/,
    );
  });

  describe('filters', () => {
    const csv = async (args: string[]) => {
      const result = await sandbox.run(['audit', '--format', 'csv', '--limit', '1000', ...args]);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout.trimEnd().split('\n').slice(1);
    };
    const json = async (args: string[]) => {
      const result = await sandbox.run(['audit', '--format', 'json', '--limit', '1000', ...args]);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as AuditEntry[];
    };

    it('--outcome and --writes', async () => {
      const refused = await json(['--outcome', 'refused']);
      expect(refused.map((entry) => entry.statement)).toEqual(['delete from templates']);
      expect(refused[0]!.code).toBe('guard.read-only');
      const several = await json(['--outcome', 'refused,committed']);
      expect(new Set(several.map((entry) => entry.outcome))).toEqual(new Set(['refused', 'committed']));
      const writes = await json(['--writes']);
      expect(writes.length).toBeGreaterThan(0);
      expect(
        writes.every((entry) => ['planned', 'commit-pending', 'committed'].includes(entry.outcome)),
      ).toBe(true);
      expect(writes.some((entry) => entry.outcome === 'committed' && entry.reason === 'issue 13 test')).toBe(
        true,
      );
    });

    it('--since and --until, ISO or relative', async () => {
      const all = records();
      expect(await json(['--since', '1h'])).toHaveLength(all.length);
      expect(await json(['--until', '2000-01-01'])).toHaveLength(0);
      const middle = all[5]!.time;
      expect((await json(['--since', middle])).map((entry) => entry.seq)).toEqual(
        all.filter((entry) => entry.time >= middle).map((entry) => entry.seq),
      );
      expect((await json(['--until', middle])).map((entry) => entry.seq)).toEqual(
        all.filter((entry) => entry.time <= middle).map((entry) => entry.seq),
      );
      const bad = await sandbox.run(['audit', '--since', 'last tuesday']);
      expect(bad.code).toBe(2);
      expect(bad.stderr.split('\n')[0]).toBe(
        'coderdb: --since "last tuesday" is neither an ISO date nor a duration',
      );
    });

    it('--profile and --identity', async () => {
      expect(await json(['--profile', 'sandbox'])).toHaveLength(records().length);
      expect(await json(['--profile', 'elsewhere'])).toHaveLength(0);
      expect(await json(['--identity', 'no-such-role'])).toHaveLength(0);
      const withIdentity = records().filter((entry) => entry.identity);
      if (withIdentity.length > 0) {
        const part = withIdentity[0]!.identity!.split('/').pop()!;
        const found = await json(['--identity', part]);
        expect(found.length).toBeGreaterThan(0);
        expect(found.every((entry) => entry.identity?.includes(part))).toBe(true);
      }
    });

    it('statements on one line in the table, whole in csv and json; identity and reason shown', async () => {
      const table = await sandbox.run(['audit', '--limit', '1000']);
      expect(table.code).toBe(0);
      const header = table.stdout.split('\n')[0]!;
      expect(header).toMatch(/identity.*reason.*statement/);
      expect(table.stdout).toContain('| select name from templates');
      expect(table.stdout).toContain('| issue 13 test');
      expect((await csv(['--outcome', 'ok'])).join('\n')).toContain('"select\n  name\nfrom templates"');
      expect((await json([])).some((entry) => entry.statement === 'select\n  name\nfrom templates')).toBe(
        true,
      );
    });
  });

  it('takes over the lock of a process that is gone, and waits a bounded time for a live one', async () => {
    const lock = `${log}.lock`;
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => gone.on('close', resolve));
    writeFileSync(lock, `${gone.pid}\n`);
    const refused = await sandbox.run(['query', 'delete from templates where id = 1']);
    expect(refused.code, refused.stderr).toBe(4);
    expect(existsSync(lock)).toBe(false);
    writeFileSync(lock, `${process.pid}\n`);
    try {
      const held = await sandbox.run(['query', 'select 1']);
      expect(held.code).toBe(74);
      expect(held.stdout).toBe('');
      expect(held.stderr.split('\n')[0]).toBe(
        `coderdb: cannot write the audit log ${log}: its lock ${lock} is held by another process (remove it if no coderdb is running)`,
      );
    } finally {
      rmSync(lock, { force: true });
    }
    const result = await sandbox.run(['audit', 'verify']);
    expect(result.code, result.stdout).toBe(0);
  }, 60_000);

  it('keeps one chain when several coderdb processes append at once', async () => {
    const before = records().length;
    // Refusals are logged before any connection, so the processes race on the log alone.
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        sandbox.run(['query', `delete from templates where id = ${i}`], { timeoutMs: 120_000 }),
      ),
    );
    for (const run of runs) expect(run.code, run.stderr).toBe(4);
    // And a tighter race: processes appending through the library as fast as they can.
    const appenders = Array.from({ length: 4 }, (_, i) => appendMany(sandbox.env, i, 150));
    await Promise.all(appenders);
    const all = records();
    expect(all.length).toBe(before + 8 + 4 * 150);
    expect(all.map((record) => record.seq)).toEqual(all.map((_, i) => i + 1));
    const result = await sandbox.run(['audit', 'verify']);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toBe(`${log}: intact, ${all.length} chained records\n`);
  }, 180_000);
});
