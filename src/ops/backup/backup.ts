// `coderdb backup`: one archive of the whole database, taken where the database can be reached
// (pg_dump here over direct or tunnel, or inside the task over exec), streamed into a temporary file,
// checked (stream framing, gzip CRC, per-file SHA-256, the archive's table of contents), and only
// then given its name together with its manifest. A failed or interrupted backup leaves nothing
// that looks like one.

import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CoderdbError, usageError } from '../../core/errors.js';
import { paths } from '../../core/paths.js';
import { directTransport } from '../../transport/direct.js';
import type { Context } from '../db.js';
import { readToc, type TableOfContents } from './archive.js';
import { AtomicFile, ensurePrivateDir, trackTemporary } from './atomic-file.js';
import { auditBackup } from './audit.js';
import { dumpInParallelOverExec, dumpSeriallyOverExec } from './dump-exec.js';
import { dumpCustomLocally, dumpDirectoryLocally } from './dump-local.js';
import { manifestPath, writeManifest } from './manifest.js';
import { hashFile, Meter } from './meter.js';
import { findPgTool } from './pg-tools.js';
import { type DatabaseFacts, probeDatabase } from './probe.js';
import { type BackupContext, type ContainerReach, type LocalReach, openReach } from './reach.js';
import { writeTar } from './tar.js';
import {
  type ArchiveFormat,
  type ArchiveMember,
  type BackupResult,
  MANIFEST_FORMAT,
  type Manifest,
  type ProgressListener,
} from './types.js';
import { majorOf, serverMajor, type ToolVersion } from './versions.js';

declare const CODERDB_VERSION: string;

export const MAX_PARALLEL = 16;

export interface BackupOptions {
  /** A file name, or a directory (existing, or ending in /) for a default-named file. */
  out?: string;
  /**
   * More than 1: a directory-format dump in that many parts. Over exec, that many sessions carry it
   * (the ~1 MB/s per-channel limit is what makes this worthwhile); locally, pg_dump -j N.
   */
  parallel?: number;
  onProgress?: ProgressListener;
  /** Recorded in the manifest and the audit log ("before templates set-description"). */
  reason?: string;
  /** Part of the default file name, e.g. "pre-restore". */
  label?: string;
  /** Stops the backup (its sessions terminated, nothing kept); defaults to the context's. */
  signal?: AbortSignal;
}

/** Where the archive goes: its directory, and its name when --out gave one. */
interface Where {
  dir: string;
  label: string | undefined;
}

interface Dumped {
  archive: ArchiveFormat;
  file: AtomicFile;
  size: number;
  sha256: string;
  database: DatabaseFacts | undefined;
  pgDump: ToolVersion | undefined;
  where: 'local' | 'container';
  members?: ArchiveMember[];
  notes: string[];
}

export async function takeBackup(context: BackupContext, options: BackupOptions = {}): Promise<BackupResult> {
  const signal = options.signal ?? context.signal;
  if (signal) options = { ...options, signal };
  const parallel = parallelism(options.parallel);
  const destination = resolveDestination(options.out);
  const started = performance.now();
  const startedAt = new Date();
  const reach = await openReach(context);
  let dumped: Dumped | undefined;
  let finalPath: string | undefined;
  try {
    // auditRequired: nothing is read before the shared trail took the backup's first line.
    if (context.audit.sinkRequired) {
      auditBackup(context, {
        command: 'backup',
        outcome: 'started',
        transport: reach.transport,
        target: reach.describe,
        startedAt: started,
        ...(options.reason ? { reason: options.reason } : {}),
      });
      await context.audit.accepted();
    }
    // The temporary file carries the final name when it is known: `.NAME.partial-…`.
    const where = { dir: destination.dir, label: destination.file ? basename(destination.file) : undefined };
    dumped =
      reach.kind === 'local'
        ? await dumpHere(context, reach, parallel, where, options)
        : await dumpInContainer(reach, parallel, where, options);
    const toc = await checkArchive(dumped);
    const database = dumped.database?.database ?? toc?.database ?? 'database';
    finalPath =
      destination.file ??
      uniqueName(destination.dir, defaultName(database, context, dumped.archive, options));
    const manifest = buildManifest({
      context,
      reach,
      dumped,
      toc,
      database,
      finalPath,
      startedAt,
      parallel,
      options,
    });
    const manifestFile = manifestPath(finalPath);
    await dumped.file.commit(finalPath, () => writeManifest(finalPath!, manifest));
    auditBackup(context, {
      command: 'backup',
      outcome: 'ok',
      transport: reach.transport,
      target: reach.describe,
      backupFile: finalPath,
      startedAt: started,
      ...(options.reason ? { reason: options.reason } : {}),
    });
    return { file: finalPath, manifestFile, manifest, notes: dumped.notes };
  } catch (caught) {
    const error = diskError(caught);
    await dumped?.file.abort();
    auditBackup(context, {
      command: 'backup',
      outcome: 'error',
      transport: reach.transport,
      target: reach.describe,
      error,
      startedAt: started,
      ...(options.reason ? { reason: options.reason } : {}),
    });
    throw error;
  } finally {
    await reach.close();
  }
}

/** Local filesystem failures (full disk, permissions) as what they are, with the way out. */
function diskError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (
    error instanceof CoderdbError ||
    !code ||
    !['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EEXIST'].includes(code)
  ) {
    return error;
  }
  return usageError('backup.local-file', `cannot write the backup here: ${(error as Error).message}`, {
    hint: 'nothing incomplete was kept; free some space or choose another --out',
  });
}

function parallelism(value: number | undefined): number {
  if (value === undefined) return 1;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PARALLEL) {
    throw usageError('backup.parallel', `--parallel must be a whole number from 1 to ${MAX_PARALLEL}`);
  }
  return value;
}

/** --out as a directory (existing, or ending in /) or a file that must not exist yet. */
function resolveDestination(out: string | undefined): { dir: string; file?: string } {
  if (!out) return { dir: paths.backupDir() };
  const path = resolve(out);
  if (out.endsWith('/') || (existsSync(path) && statSync(path).isDirectory())) return { dir: path };
  if (existsSync(path) || existsSync(manifestPath(path))) {
    throw usageError('backup.exists', `${path} already exists`, {
      hint: 'choose another --out, or remove it first',
    });
  }
  return { dir: dirname(path), file: path };
}

function defaultName(
  database: string,
  context: BackupContext,
  archive: ArchiveFormat,
  options: BackupOptions,
): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const safe = (text: string) => text.replace(/[^A-Za-z0-9_.-]+/g, '_');
  const parts = [
    safe(database),
    safe(context.profile.name),
    ...(options.label ? [safe(options.label)] : []),
    stamp,
  ];
  return `${parts.join('-')}${archive === 'custom' ? '.dump' : '.tar'}`;
}

function uniqueName(dir: string, name: string): string {
  const dot = name.lastIndexOf('.');
  for (let attempt = 1; ; attempt++) {
    const candidate = join(dir, attempt === 1 ? name : `${name.slice(0, dot)}-${attempt}${name.slice(dot)}`);
    if (!existsSync(candidate) && !existsSync(manifestPath(candidate))) return candidate;
  }
}

/** node-postgres on exactly the endpoint pg_dump uses. */
function contextAt(context: Context, reach: LocalReach): Context {
  return {
    ...context,
    transport: directTransport({ name: reach.transport, target: async () => reach.target }),
  };
}

async function dumpHere(
  context: BackupContext,
  reach: LocalReach,
  parallel: number,
  { dir, label }: Where,
  options: BackupOptions,
): Promise<Dumped> {
  options.onProgress?.({ phase: 'probe', bytes: 0, elapsedMs: 0 });
  const database = await probeDatabase(contextAt(context, reach));
  const tool = await findPgTool('pg_dump', serverMajor(database.versionNum));
  const base = { database, pgDump: tool.version, where: 'local' as const, notes: [] };
  if (parallel === 1) {
    const file = AtomicFile.create(dir, label ?? 'backup.dump');
    try {
      // The archive is compressed, so the database's size is an upper estimate of its total.
      const meter = new Meter('dump', options.onProgress, database.sizeBytes, true);
      const written = pipeline(meter, file.stream);
      written.catch(() => undefined);
      await dumpCustomLocally(tool, reach.target, meter, (table) => {
        meter.table = table;
      });
      await written;
      return { ...base, archive: 'custom', file, size: meter.bytes, sha256: meter.digest() };
    } catch (error) {
      await file.abort();
      throw error;
    }
  }
  return withWorkDir(dir, async (work) => {
    await dumpDirectoryLocally(tool, reach.target, join(work, 'dump'), parallel);
    const names = await readdir(join(work, 'dump'));
    const members = await Promise.all(
      names.map(async (name) => ({ name, ...(await hashFile(join(work, 'dump', name))) })),
    );
    return {
      ...base,
      ...(await packTar(join(work, 'dump'), orderMembers(members), { dir, label }, options)),
    };
  });
}

async function dumpInContainer(
  reach: ContainerReach,
  parallel: number,
  { dir, label }: Where,
  options: BackupOptions,
): Promise<Dumped> {
  const handle = reach.container;
  if (parallel === 1) {
    const file = AtomicFile.create(dir, label ?? 'backup.dump');
    try {
      const meter = new Meter('transfer', options.onProgress);
      const written = pipeline(meter, file.stream);
      written.catch(() => undefined);
      const result = await dumpSeriallyOverExec(handle, meter, {
        ...(options.signal ? { signal: options.signal } : {}),
        onSize: (bytes) => meter.estimateTotal(bytes),
      });
      await written;
      return {
        archive: 'custom',
        file,
        size: meter.bytes,
        sha256: meter.digest(),
        database: result.database,
        pgDump: result.facts.pgDump,
        where: 'container',
        notes: result.database ? [] : ['psql is not in the container: no row estimates in the manifest'],
      };
    } catch (error) {
      await file.abort();
      throw error;
    }
  }
  return withWorkDir(dir, async (work) => {
    const result = await dumpInParallelOverExec(handle, {
      sessions: parallel,
      jobs: parallel,
      workDir: work,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const packing = packTar(work, result.members, { dir, label }, options);
    packing.catch(() => undefined);
    const { cleanupNote } = await result.cleaning;
    const packed = await packing;
    return {
      ...packed,
      database: result.database,
      pgDump: result.facts.pgDump,
      where: 'container' as const,
      notes: [
        ...(result.database ? [] : ['psql is not in the container: no row estimates in the manifest']),
        ...(cleanupNote ? [cleanupNote] : []),
      ],
    };
  });
}

/** A private scratch directory beside the destination (same filesystem), always removed. */
async function withWorkDir<T>(dir: string, work: (path: string) => Promise<T>): Promise<T> {
  ensurePrivateDir(dir);
  const path = await mkdtemp(join(dir, '.coderdb-parts-'));
  const untrack = trackTemporary(path);
  try {
    return await work(path);
  } finally {
    await rm(path, { recursive: true, force: true });
    untrack();
  }
}

function orderMembers(members: ArchiveMember[]): ArchiveMember[] {
  return [...members].sort((a, b) =>
    a.name === 'toc.dat' ? -1 : b.name === 'toc.dat' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
}

/** The directory's files, in order, as one tar through the meter into a new AtomicFile. */
async function packTar(
  source: string,
  members: ArchiveMember[],
  { dir, label }: Where,
  options: BackupOptions,
): Promise<Pick<Dumped, 'archive' | 'file' | 'size' | 'sha256' | 'members'>> {
  const file = AtomicFile.create(dir, label ?? 'backup.tar');
  try {
    const total = members.reduce((sum, member) => sum + member.size, 0);
    const meter = new Meter('assemble', options.onProgress, total);
    const written = pipeline(meter, file.stream);
    written.catch(() => undefined);
    await writeTar(
      source,
      members.map((member) => member.name),
      meter,
    );
    await written;
    return { archive: 'directory-tar', file, size: meter.bytes, sha256: meter.digest(), members };
  } catch (error) {
    await file.abort();
    throw error;
  }
}

/**
 * The archive as written, read back the way a restore will: the custom format's magic, and the
 * table of contents through a local pg_restore (which must also find a file for every table of a
 * directory archive). A pg_restore too old for the archive is a note, not a failure: the data
 * arrived intact (framing, gzip CRC, checksums) and the container's tools wrote it.
 */
async function checkArchive(dumped: Dumped): Promise<TableOfContents | undefined> {
  const needed = dumped.pgDump ? majorOf(dumped.pgDump.version) : undefined;
  let tool: Awaited<ReturnType<typeof findPgTool>>;
  try {
    tool = await findPgTool('pg_restore', needed);
  } catch (error) {
    dumped.notes.push(`the archive's table of contents was not checked: ${(error as Error).message}`);
    return undefined;
  }
  const toc = await readToc(tool, dumped.file.tempPath, dumped.archive);
  if (toc.entries.length === 0) {
    throw usageError('backup.empty-archive', 'pg_dump produced an archive with nothing in it');
  }
  if (dumped.members) {
    const names = new Set(dumped.members.map((member) => member.name.replace(/\.(gz|lz4|zst)$/, '')));
    const missing = toc.tableData.filter((entry) => !names.has(`${entry.id}.dat`));
    if (missing.length > 0) {
      throw usageError(
        'backup.parallel-incomplete',
        `the parallel backup has no data file for ${missing.length} table(s), e.g. ${missing[0]!.name}`,
        {
          hint: 'nothing was kept; run it again, or without --parallel',
        },
      );
    }
  }
  return toc;
}

function buildManifest(input: {
  context: BackupContext;
  reach: LocalReach | ContainerReach;
  dumped: Dumped;
  toc: TableOfContents | undefined;
  database: string;
  finalPath: string;
  startedAt: Date;
  parallel: number;
  options: BackupOptions;
}): Manifest {
  const { dumped, toc } = input;
  const facts = dumped.database;
  return {
    format: MANIFEST_FORMAT,
    file: basename(input.finalPath),
    archive: dumped.archive,
    database: input.database,
    server: {
      version: facts?.version ?? toc?.serverVersion ?? 'unknown',
      versionNum: facts?.versionNum ?? 0,
    },
    pgDump: { version: dumped.pgDump?.version ?? toc?.dumpVersion ?? 'unknown', where: dumped.where },
    profile: input.context.profile.name,
    transport: input.reach.transport,
    sessions: input.reach.kind === 'container' ? input.parallel : 1,
    source: input.reach.describe,
    startedAt: input.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    size: dumped.size,
    sha256: dumped.sha256,
    ...(dumped.members ? { members: dumped.members } : {}),
    tables: facts?.tables ?? [],
    ...(toc ? { toc: { entries: toc.entries.length, tableData: toc.tableData.length } } : {}),
    ...(input.options.reason ? { reason: input.options.reason } : {}),
    coderdbVersion: typeof CODERDB_VERSION === 'string' ? CODERDB_VERSION : 'dev',
  };
}
