// A serial backup's progress through the library: the database's size (from the probe) is the
// estimated total, so the events carry a total and an ETA, as a parallel backup's transfer does.
// Real PostgreSQL (the sandbox's postgres engine, matching the local pg_dump) over direct.

import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoderdbContext, createContext, loadProfile, takeBackup } from '../../src/index.js';
import type { Progress } from '../../src/ops/backup/index.js';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { TerminalUnderTest } from '../helpers/terminal.js';
import { sql } from '../ops/backup/helpers.js';

describe('serial backup progress', () => {
  let sandbox: TestSandbox;
  let context: CoderdbContext;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
    const config = join(sandbox.dir, 'empty-config.json');
    writeFileSync(config, '{}');
    context = createContext({
      resolvedProfile: loadProfile({
        configFile: config,
        env: {},
        overrides: { url: sandbox.state.databaseUrl },
      }),
      auditFile: join(sandbox.dir, 'audit.jsonl'),
    });
  });
  afterAll(async () => {
    context?.dispose();
    await sandbox?.stop();
  });

  it('reports bytes of the estimated total (the database size), an ETA and the table', async () => {
    const [row] = await sql<{ size: string }>(
      sandbox.state.databaseUrl,
      'select pg_database_size(current_database()) as size',
    );
    const size = Number(row?.size);
    expect(size).toBeGreaterThan(0);
    const events: Progress[] = [];
    const result = await takeBackup(context, {
      out: join(sandbox.dir, 'progress.dump'),
      onProgress: (progress) => events.push(progress),
    });
    const dumping = events.filter((event) => event.phase === 'dump');
    expect(dumping.length).toBeGreaterThan(0);
    for (const event of dumping) {
      expect(event).toMatchObject({
        totalBytes: expect.any(Number),
        estimated: true,
        etaMs: expect.any(Number),
      });
      expect(event.bytes).toBeLessThanOrEqual(event.totalBytes!);
    }
    // The estimate is the database's size as the probe saw it (the same database, moments apart).
    expect(Math.abs(dumping[0]!.totalBytes! - size)).toBeLessThan(size / 10);
    expect(dumping.at(-1)!.bytes).toBe(statSync(result.file).size);
    expect(dumping.at(-1)!.etaMs).toBe(0);
    // pg_dump --verbose says which table it is on; the last event knows the last one it started.
    const tables = new Set(result.manifest.tables.map((table) => `${table.schema}.${table.name}`));
    expect(tables.has(dumping.at(-1)!.table ?? '')).toBe(true);
  });

  it('over exec, the container reports the size first: the status line shows bytes of ~ the total', async () => {
    const out = join(sandbox.dir, 'progress-exec.dump');
    const terminal = new TerminalUnderTest(
      process.execPath,
      [CLI, '--transport', 'exec', 'backup', '--out', out],
      sandbox.env,
    );
    try {
      expect((await terminal.exit(150_000)).exitCode).toBe(0);
      expect(terminal.all).toMatch(/receiving {2}\d[\d.]* [kMG]?B of ~\d[\d.]* [kMG]?B \(\d+%\)/);
    } finally {
      terminal.kill();
    }
  });
});
