// `coderdb backup list`: the archives in the backup directory with what their manifests say, plus
// anything that is not a usable backup (an archive without manifest, a manifest without archive,
// leftovers of interrupted runs) so that nothing there is mistaken for one.

import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from '../../core/paths.js';
import { PARTIAL_MARK } from './atomic-file.js';
import { MANIFEST_SUFFIX, readManifest } from './manifest.js';
import type { ArchiveFormat, Manifest } from './types.js';

export type ListedStatus =
  /** Archive and manifest agree on the size (run `backup verify` for the checksum). */
  | 'ok'
  | 'size-mismatch'
  | 'no-manifest'
  | 'manifest-unreadable'
  | 'missing-archive'
  /** A temporary file or directory of an interrupted backup or restore. */
  | 'incomplete';

export interface ListedBackup {
  file: string;
  status: ListedStatus;
  createdAt?: string;
  database?: string;
  size: number;
  profile?: string;
  transport?: string;
  archive?: ArchiveFormat;
  /** When `backup verify` last passed, if ever. */
  verifiedAt?: string;
  /** When the backup itself checked the archive as written (checksum and table of contents). */
  checkedAt?: string;
}

export function listBackups(dir: string = paths.backupDir()): ListedBackup[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const listed: ListedBackup[] = [];
  const present = new Set(names);
  for (const name of names) {
    const path = join(dir, name);
    if (name.includes(PARTIAL_MARK) || name.startsWith('.coderdb-')) {
      listed.push({ file: path, status: 'incomplete', size: sizeOf(path) });
      continue;
    }
    if (name.endsWith(MANIFEST_SUFFIX)) {
      if (!present.has(name.slice(0, -MANIFEST_SUFFIX.length))) {
        listed.push({ file: path.slice(0, -MANIFEST_SUFFIX.length), status: 'missing-archive', size: 0 });
      }
      continue;
    }
    if (name.startsWith('.')) continue;
    listed.push(describe(path));
  }
  return listed.sort(
    (a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || a.file.localeCompare(b.file),
  );
}

function describe(path: string): ListedBackup {
  const size = sizeOf(path);
  let manifest: Manifest | undefined;
  try {
    manifest = readManifest(path);
  } catch {
    return { file: path, status: 'manifest-unreadable', size };
  }
  if (!manifest) return { file: path, status: 'no-manifest', size };
  return {
    file: path,
    status: manifest.size === size ? 'ok' : 'size-mismatch',
    createdAt: manifest.startedAt,
    database: manifest.database,
    size,
    profile: manifest.profile,
    transport: manifest.transport,
    archive: manifest.archive,
    ...(manifest.verified ? { verifiedAt: manifest.verified.at } : {}),
    ...(manifest.toc ? { checkedAt: manifest.finishedAt } : {}),
  };
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
