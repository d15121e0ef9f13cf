// Backup and restore over the direct transport, through the real CLI, against a sandbox running a
// real PostgreSQL (Debian's 15, matching the local pg_dump): a round trip that compares every row,
// verification, listing, the refusals, and --backup on the write path.

import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { archiveObjects, createDatabase, snapshot, sql } from '../ops/backup/helpers.js';

interface BackupJson {
  file: string;
  manifestFile: string;
  manifest: {
    transport: string;
    database: string;
    archive: string;
    size: number;
    sha256: string;
    sessions: number;
    pgDump: { where: string };
    tables: { name: string }[];
    toc?: { entries: number };
    reason?: string;
  };
}

describe('backup and restore over direct', () => {
  let sandbox: TestSandbox;
  let source: string;
  const run = (...args: string[]) => sandbox.run(args, { timeoutMs: 120_000 });

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'postgres' });
    source = sandbox.state.databaseUrl;
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it('round trip: backup, verify, list, restore into an empty database, every row equal', async () => {
    const out = join(sandbox.dir, 'direct.dump');
    const backup = json<BackupJson>(await run('backup', '--out', out, '--format', 'json'));
    expect(backup.file).toBe(out);
    expect(backup.manifest).toMatchObject({
      transport: 'direct',
      database: 'coder',
      archive: 'custom',
      sessions: 1,
    });
    expect(backup.manifest.pgDump.where).toBe('local');
    expect(backup.manifest.tables.map((table) => table.name)).toContain('workspaces');
    expect(backup.manifest.toc?.entries).toBeGreaterThan(100);
    expect(readFileSync(out).subarray(0, 5).toString()).toBe('PGDMP');
    expect(existsSync(`${out}.manifest.json`)).toBe(true);
    // The backup checked what it wrote; the list says so rather than "no".
    const unverified = await run('backup', 'list', '--dir', sandbox.dir);
    expect(unverified.stdout).toContain('(at backup)');

    const verify = await run('backup', 'verify', out);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/^ok: /);
    expect(verify.stdout).toContain('read every entry');

    const listed = json<{ file: string; status: string; verifiedAt?: string }[]>(
      await run('backup', 'list', '--dir', sandbox.dir, '--format', 'json'),
    );
    expect(listed.find((entry) => entry.file === out)).toMatchObject({ status: 'ok' });
    expect(listed.find((entry) => entry.file === out)?.verifiedAt).toBeTruthy();

    // As the target database's owner: a superuser target role needs --as-superuser (below).
    const target = await createDatabase(source, 'restored_direct', 'restorer');
    const restored = json<{ tables: unknown[]; rows: number; preRestoreBackup?: string }>(
      await run('restore', out, '--url', target, '--yes', '--format', 'json'),
    );
    expect(restored.tables.length).toBe(backup.manifest.tables.length);
    expect(restored.rows).toBeGreaterThan(0);
    expect(restored.preRestoreBackup).toBeUndefined();
    expect(await snapshot(target)).toEqual(await snapshot(source));

    const audit = (await run('audit', '--format', 'json')).stdout;
    const entries = JSON.parse(audit) as { command: string; outcome: string; backupFile?: string }[];
    expect(
      entries.some(
        (entry) => entry.command === 'backup' && entry.outcome === 'ok' && entry.backupFile === out,
      ),
    ).toBe(true);
    expect(entries.some((entry) => entry.command === 'restore' && entry.outcome === 'restored')).toBe(true);
  });

  it('--parallel locally writes a directory archive with the same objects, restoring the same data', async () => {
    const serial = join(sandbox.dir, 'serial-local.dump');
    const parallel = join(sandbox.dir, 'parallel-local.tar');
    expect((await run('backup', '--out', serial)).code).toBe(0);
    const made = json<BackupJson>(
      await run('backup', '--parallel', '2', '--out', parallel, '--format', 'json'),
    );
    expect(made.manifest.archive).toBe('directory-tar');
    expect(await archiveObjects(parallel)).toEqual(await archiveObjects(serial));
    expect((await run('backup', 'verify', parallel)).code).toBe(0);
    const target = await createDatabase(source, 'restored_parallel_local');
    const restored = await run('restore', parallel, '--url', target, '--yes', '--as-superuser');
    expect(restored.code, restored.stderr).toBe(0);
    expect(await snapshot(target)).toEqual(await snapshot(source));
  });

  it('over the tunnel transport: pg_dump and pg_restore here, through SSM port forwarding', async () => {
    const out = join(sandbox.dir, 'tunnel.dump');
    const made = json<BackupJson>(
      await run('--transport', 'tunnel', 'backup', '--out', out, '--format', 'json'),
    );
    expect(made.manifest.transport).toBe('tunnel');
    const target = await createDatabase(source, 'restored_tunnel');
    const restored = await run(
      '--transport',
      'tunnel',
      'restore',
      out,
      '--url',
      target,
      '--yes',
      '--as-superuser',
    );
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain('via tunnel');
    expect(await snapshot(target)).toEqual(await snapshot(source));
  });

  it('a corrupted archive fails verification and is not restored', async () => {
    const good = join(sandbox.dir, 'good.dump');
    expect((await run('backup', '--out', good)).code).toBe(0);
    const bad = join(sandbox.dir, 'bad.dump');
    const bytes = readFileSync(good);
    // Near the end: in compressed table data (the table of contents at the start is plain text,
    // which only the manifest's checksum can vouch for).
    bytes[bytes.length - 1500]! ^= 0x55;
    writeFileSync(bad, bytes);
    copyFileSync(`${good}.manifest.json`, `${bad}.manifest.json`);

    const verify = await run('backup', 'verify', bad);
    expect(verify.code).toBe(5);
    expect(verify.stdout).toContain('FAIL  checksum');
    expect(verify.stderr).toContain('failed verification');

    const target = await createDatabase(source, 'never_restored');
    const restore = await run('restore', bad, '--url', target, '--yes', '--as-superuser');
    expect(restore.code).toBe(5);
    expect(restore.stderr).toContain('does not match its manifest');
    expect(await sql(target, "SELECT 1 FROM pg_tables WHERE schemaname = 'public'")).toEqual([]);

    // Without a manifest the damage is still found: pg_restore reads (and decompresses) every entry.
    rmSync(`${bad}.manifest.json`);
    const deep = await run('backup', 'verify', bad);
    expect(deep.code).toBe(5);
    expect(deep.stdout).toMatch(/FAIL {2}(data|toc)/);
  });

  it('refuses a non-empty target without --force, and --force without a terminal; nothing changes', async () => {
    const out = join(sandbox.dir, 'refusal.dump');
    expect((await run('backup', '--out', out)).code).toBe(0);
    const before = await snapshot(source);
    const refused = await run('restore', out, '--yes');
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('refusing to restore into a protected target');
    expect(refused.stderr).toContain("Coder's tables");
    const forced = await run('restore', out, '--force', '--yes', '--as-superuser');
    expect(forced.code).toBe(4);
    expect(forced.stderr).toContain('there is no terminal');
    expect(await snapshot(source)).toEqual(before);
    const noTarget = await sandbox.run(['restore', out], { env: { CODERDB_PROFILE: '' } });
    expect(noTarget.code).toBe(2);
  });

  it('an archive is code: no manifest needs --trust-archive, a superuser role --as-superuser', async () => {
    const out = join(sandbox.dir, 'trust.dump');
    expect((await run('backup', '--out', out)).code).toBe(0);
    const target = await createDatabase(source, 'restored_trust');
    const empty = await snapshot(target);

    const asSuperuser = await run('restore', out, '--url', target, '--yes');
    expect(asSuperuser.code).toBe(4);
    expect(asSuperuser.stderr).toContain(
      `the archive's SQL runs as role "${new URL(source).username}" on the target (a SUPERUSER)`,
    );
    expect(asSuperuser.stderr).toMatch(/coderdb: refusing to restore as ".+", a superuser/);

    const copy = join(sandbox.dir, 'copied.dump');
    copyFileSync(out, copy);
    const untrusted = await run('restore', copy, '--url', target, '--yes', '--as-superuser');
    expect(untrusted.code).toBe(4);
    expect(untrusted.stderr).toMatch(/^coderdb: refusing to restore copied\.dump: it has no manifest/);
    expect(await snapshot(target)).toEqual(empty);

    const entries = JSON.parse((await run('audit', '--format', 'json')).stdout) as {
      command: string;
      outcome: string;
      code?: string;
    }[];
    const refusals = entries.filter((entry) => entry.command === 'restore' && entry.outcome === 'refused');
    expect(refusals.map((entry) => entry.code)).toEqual(
      expect.arrayContaining(['restore.superuser', 'restore.untrusted-archive']),
    );

    const trusted = await run('restore', copy, '--url', target, '--yes', '--as-superuser', '--trust-archive');
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(await snapshot(target)).toEqual(await snapshot(source));
  });

  it('a write with --backup takes a full backup after confirmation and before applying', async () => {
    const backupDir = join(sandbox.dir, 'data', 'coderdb', 'backups');
    const before = existsSync(backupDir) ? readdirSync(backupDir).length : 0;
    const result = await run(
      'query',
      '--write',
      '--yes',
      '--backup',
      '--reason',
      'backup test',
      "UPDATE templates SET description = 'backed up first' WHERE name = 'docker'",
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('backup: ');
    const manifests = readdirSync(backupDir).filter((name) => name.endsWith('.manifest.json'));
    expect(readdirSync(backupDir).length).toBeGreaterThan(before);
    const manifest = JSON.parse(readFileSync(join(backupDir, manifests[0]!), 'utf8')) as { reason: string };
    expect(manifest.reason).toBe('before query: backup test');
    const dry = await run(
      'query',
      '--write',
      '--dry-run',
      '--backup',
      "UPDATE templates SET description = 'x' WHERE name = 'docker'",
    );
    expect(dry.code).toBe(0);
    expect(readdirSync(backupDir).filter((name) => name.endsWith('.manifest.json'))).toHaveLength(
      manifests.length,
    );
  });
});
