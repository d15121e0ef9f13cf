// The shapes a backup leaves behind and reports: the manifest written beside every archive, the
// progress events the CLI renders, and the result of each operation. Kept apart so that the CLI and
// library callers can depend on them without loading any of the machinery.

import type { TransportName } from '../../core/config.js';

/**
 * `custom`: one pg_dump -Fc archive, what a serial backup streams. `directory-tar`: a pg_dump -Fd
 * directory (toc.dat + one compressed file per table) wrapped in a plain tar, what `--parallel`
 * produces because its files arrive over several sessions at once. Both restore with pg_restore.
 */
export type ArchiveFormat = 'custom' | 'directory-tar';

export const MANIFEST_FORMAT = 'coderdb-backup/1';

export interface TableEstimate {
  schema: string;
  name: string;
  /** pg_class.reltuples at backup time; null when the table was never analyzed. */
  rows: number | null;
}

export interface ArchiveMember {
  name: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  /** Base name of the archive this manifest describes (it lives in the same directory). */
  file: string;
  archive: ArchiveFormat;
  database: string;
  server: { version: string; versionNum: number };
  pgDump: { version: string; where: 'local' | 'container' };
  profile: string;
  transport: TransportName;
  /** Concurrent exec sessions used (--parallel), else 1. */
  sessions: number;
  /** Where the dump ran, without credentials: user@host:port/db, or the task and container. */
  source: string;
  startedAt: string;
  finishedAt: string;
  size: number;
  sha256: string;
  /** directory-tar only: each file of the pg_dump directory, as checked on arrival. */
  members?: ArchiveMember[];
  tables: TableEstimate[];
  /** What `pg_restore -l` found in the archive, when a local pg_restore could read it. */
  toc?: { entries: number; tableData: number };
  /** Last successful full verification (checksum + pg_restore reading every entry). */
  verified?: { at: string; pgRestore: string };
  reason?: string;
  coderdbVersion: string;
}

export type ProgressPhase = 'probe' | 'dump' | 'transfer' | 'assemble' | 'verify' | 'upload' | 'restore';

export interface Progress {
  phase: ProgressPhase;
  /** Bytes of the archive written (or read, or uploaded) so far. */
  bytes: number;
  /** When known (uploads, verification, parallel transfers once the dump has finished). */
  totalBytes?: number;
  /** totalBytes is an estimate (a serial dump: the database's size, not the archive's). */
  estimated?: boolean;
  /** The table whose data is being dumped, when the dump says (a local serial pg_dump). */
  table?: string;
  /** Time left at the rate so far, when totalBytes is known and not yet passed. */
  etaMs?: number;
  elapsedMs: number;
}

export type ProgressListener = (progress: Progress) => void;

export interface BackupResult {
  file: string;
  manifestFile: string;
  manifest: Manifest;
  /** Things worth telling the operator that did not stop the backup. */
  notes: string[];
}
