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
