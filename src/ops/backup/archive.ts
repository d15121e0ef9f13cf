// What a backup file is and what is in it: the format from its first bytes (custom archive, tar of a
// directory archive, or something coderdb did not write, such as the runbook's plain SQL dump), the
// table of contents as `pg_restore -l` reads it, and a directory-format view of a tar for pg_restore.

import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { usageError } from '../../core/errors.js';
import { trackTemporary } from './atomic-file.js';
import { type PgTool, runPgTool, toolErrors } from './pg-tools.js';
import { extractTar, listTar, type TarMember } from './tar.js';
import type { ArchiveFormat } from './types.js';
import { parseUnsupportedArchive } from './versions.js';

const TOC_TIMEOUT_MS = 5 * 60_000;

export async function detectFormat(path: string): Promise<ArchiveFormat> {
  let head: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      head = Buffer.alloc(512);
      const { bytesRead } = await handle.read(head, 0, 512, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw usageError(
      'backup.unreadable',
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'custom';
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'directory-tar';
  if (/^(--|SET |CREATE |\\)/.test(head.toString('utf8', 0, 64))) {
    throw usageError('backup.plain-sql', `${path} is a plain SQL dump, not a pg_dump archive`, {
      hint: 'coderdb restores archives made by `coderdb backup` or `pg_dump -Fc`; a plain dump is restored with psql',
    });
  }
  throw usageError('backup.unknown-format', `${path} is not a backup archive coderdb knows`, {
    hint: 'expected a pg_dump custom archive (-Fc) or a `coderdb backup --parallel` tar',
  });
}

export interface TocEntry {
  id: number;
  desc: string;
  schema: string;
  name: string;
}

export interface TableOfContents {
  entries: TocEntry[];
  tableData: TocEntry[];
  dumpVersion: string | undefined;
  serverVersion: string | undefined;
  database: string | undefined;
}

/** `pg_restore -l` parsed: entry lines are `ID; TABLEOID OID DESC SCHEMA NAME OWNER`. */
export function parseToc(text: string): TableOfContents {
  const header = (label: string) =>
    new RegExp(`^;\\s+${label}:\\s*(.+)$`, 'm').exec(text)?.[1]?.trim() || undefined;
  const entries: TocEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+); \d+ \d+ (.+)$/.exec(line.trim());
    if (!match) continue;
    const rest = match[2]!;
    const desc =
      /^(TABLE DATA|SEQUENCE SET|BLOBS|BLOB METADATA|LARGE OBJECT|[A-Z][A-Z ]*?) /.exec(rest)?.[1] ?? rest;
    const words = rest.slice(desc.length).trim().split(' ');
    entries.push({ id: Number(match[1]), desc, schema: words[0] ?? '', name: words[1] ?? '' });
  }
  return {
    entries,
    tableData: entries.filter((entry) => entry.desc === 'TABLE DATA'),
    dumpVersion: header('Dumped by pg_dump version'),
    serverVersion: header('Dumped from database version'),
    database: header('dbname'),
  };
}

/**
 * A path pg_restore can read, with its format flag: the custom file itself, or the tar unpacked
 * into a temporary directory beside it (only `toc.dat` when `tocOnly`). Call release() when done.
 */
export async function openForPgRestore(
  path: string,
  format: ArchiveFormat,
  options: { tocOnly?: boolean; members?: TarMember[] } = {},
): Promise<{ path: string; formatFlag: string; members?: TarMember[]; release(): Promise<void> }> {
  if (format === 'custom') return { path, formatFlag: '-Fc', release: async () => undefined };
  const members = options.members ?? (await listTar(path));
  if (!members.some((member) => member.name === 'toc.dat')) {
    throw usageError('backup.bad-archive', `${path} has no toc.dat: it is not a directory-format backup`);
  }
  // Beside the archive (same disk, usually roomy); the system temp dir if that is read-only.
  const dir = await mkdtemp(join(dirname(path), '.coderdb-restore-')).catch(() =>
    mkdtemp(join(tmpdir(), 'coderdb-restore-')),
  );
  const untrack = trackTemporary(dir);
  const release = async () => {
    await rm(dir, { recursive: true, force: true });
    untrack();
  };
  try {
    await extractTar(
      path,
      options.tocOnly ? members.filter((member) => member.name === 'toc.dat') : members,
      dir,
    );
  } catch (error) {
    await release();
    throw error;
  }
  return { path: dir, formatFlag: '-Fd', members, release };
}

/** The archive's table of contents through a local pg_restore. */
export async function readToc(tool: PgTool, path: string, format: ArchiveFormat): Promise<TableOfContents> {
  const opened = await openForPgRestore(path, format, { tocOnly: true });
  try {
    const run = runPgTool(
      tool,
      ['-l', opened.formatFlag, opened.path],
      { ...process.env, LC_ALL: 'C' },
      {
        stdout: 'pipe',
        timeoutMs: TOC_TIMEOUT_MS,
      },
    );
    let stdout = '';
    run.child.stdout?.setEncoding('utf8');
    run.child.stdout?.on('data', (text: string) => {
      stdout += text;
    });
    const exit = await run.exited;
    if (exit.code !== 0) throw tocError(path, tool, exit.stderr);
    return parseToc(stdout);
  } finally {
    await opened.release();
  }
}

export function tocError(path: string, tool: PgTool, stderr: string) {
  const unsupported = parseUnsupportedArchive(stderr);
  if (unsupported) {
    return usageError(
      'backup.version-mismatch',
      `pg_restore ${tool.version.version} cannot read ${path}: it was written by a newer pg_dump (archive format ${unsupported})`,
      { hint: 'install the client tools of the PostgreSQL version in the manifest (pgDump.version)' },
    );
  }
  return usageError(
    'backup.bad-archive',
    `pg_restore cannot read ${path}: ${toolErrors(stderr, 'pg_restore')}`,
    {
      hint: 'the file is damaged or truncated; use another backup',
    },
  );
}
