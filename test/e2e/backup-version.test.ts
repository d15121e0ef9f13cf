// Version mismatches said plainly: the sandbox's default engine is PGlite (PostgreSQL 18) while this
// machine's and the emulated container's pg_dump is Debian 12's 15. pg_dump refuses a newer server;
// coderdb must say which tools are too old, where, and what to install; and a restore into PGlite
// must be refused up front with the way out (the postgres engine).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

describe('version mismatches (PGlite 18, pg_dump 15)', () => {
  let sandbox: TestSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite' });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('direct: names the server version, the local pg_dump, and the package to install', async () => {
    const result = await sandbox.run(['backup', '--out', join(sandbox.dir, 'never.dump')]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/pg_dump 18 or newer is needed; the newest on this machine is 15\.\d+/);
    expect(result.stderr).toMatch(/postgresql-client-18/);
  });

  it('exec: the same, about the container, with the container as the place to fix', async () => {
    const result = await sandbox.run(
      ['--transport', 'exec', 'backup', '--out', join(sandbox.dir, 'never.dump')],
      {
        timeoutMs: 120_000,
      },
    );
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(
      /pg_dump 15\.\d+ in the container is older than the server \(PostgreSQL 18/,
    );
    expect(result.stderr).toContain('in the container image');
    expect(result.stderr).not.toContain('.partial-');
  });

  it("leaves no session state behind: after the failed backups the README's commands still work", async () => {
    // pg_dump empties search_path on its connection; PGlite serves every client from one backend.
    const searchPath = () =>
      sandbox.run(['query', 'show search_path', '--format', 'csv'], { timeoutMs: 60_000 });
    const before = await searchPath();
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).toMatch(/^search_path\n.*public.*\n$/);
    const failed = await sandbox.run(
      ['--transport', 'exec', 'backup', '--out', join(sandbox.dir, 'x.dump')],
      {
        timeoutMs: 120_000,
      },
    );
    expect(failed.code, failed.stderr).toBe(2);
    for (const transport of ['direct', 'exec']) {
      const run = (args: string[]) => sandbox.run(['--transport', transport, ...args], { timeoutMs: 60_000 });
      const path = await run(['query', 'show search_path', '--format', 'csv']);
      expect(path.code, path.stderr).toBe(0);
      expect(path.stdout).toBe(before.stdout);
      const described = await run(['describe', 'templates']);
      expect(described.code, described.stderr).toBe(0);
      expect(described.stdout).toContain('Table "public.templates"');
      const listed = await run(['templates', 'list', '--format', 'json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain('"name":"docker"');
    }
  });

  it('restore --target sandbox refuses PGlite and points at the postgres engine', async () => {
    const archive = join(sandbox.dir, 'fake.dump');
    writeFileSync(archive, Buffer.concat([Buffer.from('PGDMP'), Buffer.alloc(200)]));
    const result = await sandbox.run([
      'restore',
      archive,
      '--target',
      'sandbox',
      '--force',
      '--trust-archive',
    ]);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('PGlite');
    expect(result.stderr).toContain('--engine postgres');
  });
});
