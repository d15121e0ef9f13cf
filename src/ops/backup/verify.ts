// `coderdb backup verify FILE`: is this archive what its manifest says, and can pg_restore read all
// of it? Checks the size and SHA-256 against the manifest (and each file of a directory archive),
// lists the table of contents, then has pg_restore read every entry (into /dev/null), which
// decompresses all table data. A success is recorded in the manifest for `backup list`.

import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CoderdbError } from '../../core/errors.js';
import { detectFormat, openForPgRestore, readToc, type TableOfContents, tocError } from './archive.js';
import { readManifest, writeManifest } from './manifest.js';
import { hashFile } from './meter.js';
import { findPgTool, runPgTool } from './pg-tools.js';
import { listTar, memberStream } from './tar.js';
import type { ArchiveFormat, Manifest, ProgressListener } from './types.js';
import { majorOf } from './versions.js';

const READ_ALL_TIMEOUT_MS = 6 * 60 * 60_000;

export interface VerifyCheck {
  name: 'manifest' | 'size' | 'checksum' | 'members' | 'toc' | 'data';
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  file: string;
  format: ArchiveFormat;
  ok: boolean;
  checks: VerifyCheck[];
  manifest: Manifest | undefined;
  toc?: { entries: number; tableData: number; dumpVersion?: string };
}

export interface VerifyOptions {
  onProgress?: ProgressListener;
  /** Skip reading every entry with pg_restore (checksums and table of contents only). */
  quick?: boolean;
}

/** Verifies; throws a CoderdbError (kind checkFailed) listing what failed, or returns the report. */
export async function verifyBackup(file: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const report = await inspectBackup(file, options);
  if (!report.ok) {
    const failed = report.checks.filter((check) => !check.ok);
    throw new CoderdbError(
      'checkFailed',
      'backup.verify-failed',
      `${file} failed verification: ${failed.map((check) => check.detail).join('; ')}`,
      {
        hint: 'do not restore from this file; use another backup',
      },
    );
  }
  return report;
}

/** Runs every check and reports each; never throws for a failed check. */
export async function inspectBackup(file: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const format = await detectFormat(file);
  const manifest = readManifest(file);
  const checks: VerifyCheck[] = [];
  const add = (name: VerifyCheck['name'], ok: boolean, detail: string) => checks.push({ name, ok, detail });

  if (!manifest)
    add(
      'manifest',
      true,
      'no manifest: checksum cannot be compared (not a coderdb backup, or its manifest was lost)',
    );
  const size = statSync(file).size;
  if (manifest) {
    add(
      'size',
      size === manifest.size,
      size === manifest.size ? `${size} bytes` : `size is ${size} bytes, the manifest says ${manifest.size}`,
    );
    const { sha256 } = await hashFile(file, options.onProgress);
    add(
      'checksum',
      sha256 === manifest.sha256,
      sha256 === manifest.sha256
        ? `sha256 ${sha256}`
        : 'SHA-256 does not match the manifest (the file changed or is damaged)',
    );
  }
  if (format === 'directory-tar') add('members', ...(await checkMembers(file, manifest)));
  const structuralOk = checks.every((check) => check.ok);

  let toc: TableOfContents | undefined;
  if (structuralOk) {
    const tool = await findPgTool('pg_restore', manifest ? majorOf(manifest.pgDump.version) : undefined);
    try {
      toc = await readToc(tool, file, format);
      add(
        'toc',
        toc.entries.length > 0,
        `${toc.entries.length} entries, ${toc.tableData.length} with table data`,
      );
    } catch (error) {
      if (error instanceof CoderdbError && error.code === 'backup.version-mismatch') throw error;
      add('toc', false, error instanceof Error ? error.message : String(error));
    }
    if (toc && !options.quick) add('data', ...(await readEverything(tool, file, format)));
  }
  const ok = checks.every((check) => check.ok);
  if (ok && manifest && !options.quick) {
    const tool = await findPgTool('pg_restore', majorOf(manifest.pgDump.version));
    await writeManifest(file, {
      ...manifest,
      verified: { at: new Date().toISOString(), pgRestore: tool.version.version },
      ...(toc ? { toc: { entries: toc.entries.length, tableData: toc.tableData.length } } : {}),
    });
  }
  return {
    file,
    format,
    ok,
    checks,
    manifest,
    ...(toc
      ? {
          toc: {
            entries: toc.entries.length,
            tableData: toc.tableData.length,
            ...(toc.dumpVersion ? { dumpVersion: toc.dumpVersion } : {}),
          },
        }
      : {}),
  };
}

/** Each file in the tar against the manifest's list (names, sizes, SHA-256). */
async function checkMembers(file: string, manifest: Manifest | undefined): Promise<[boolean, string]> {
  let members: Awaited<ReturnType<typeof listTar>>;
  try {
    members = await listTar(file);
  } catch (error) {
    return [false, (error as Error).message];
  }
  if (!manifest?.members) return [true, `${members.length} files (no manifest list to compare)`];
  const expected = new Map(manifest.members.map((member) => [member.name, member]));
  if (members.length !== expected.size)
    return [false, `${members.length} files, the manifest lists ${expected.size}`];
  for (const member of members) {
    const listed = expected.get(member.name);
    if (!listed || listed.size !== member.size)
      return [false, `${member.name} is not as the manifest lists it`];
    const hash = createHash('sha256');
    await pipeline(
      memberStream(file, member),
      new Writable({
        write(chunk, _encoding, callback) {
          hash.update(chunk as Buffer);
          callback();
        },
      }),
    );
    if (hash.digest('hex') !== listed.sha256) return [false, `${member.name} does not match its checksum`];
  }
  return [true, `${members.length} files match`];
}

/** pg_restore reading every entry into /dev/null: all table data decompressed and parsed. */
async function readEverything(
  tool: Awaited<ReturnType<typeof findPgTool>>,
  file: string,
  format: ArchiveFormat,
): Promise<[boolean, string]> {
  const opened = await openForPgRestore(file, format);
  try {
    const run = runPgTool(
      tool,
      [opened.formatFlag, '-f', '/dev/null', opened.path],
      { ...process.env, LC_ALL: 'C' },
      {
        stdout: 'ignore',
        timeoutMs: READ_ALL_TIMEOUT_MS,
      },
    );
    const exit = await run.exited;
    if (exit.code === 0) return [true, `pg_restore ${tool.version.version} read every entry`];
    return [false, tocError(file, tool, exit.stderr).message];
  } finally {
    await opened.release();
  }
}
