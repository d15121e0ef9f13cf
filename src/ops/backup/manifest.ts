// The manifest beside each archive (FILE.manifest.json): what was dumped, from where, by which
// pg_dump, when, and the size and SHA-256 that `backup verify` and `restore` check the archive
// against. Written atomically before the archive takes its final name, so every archive that
// exists under its name has one.

import { readFileSync } from 'node:fs';
import { usageError } from '../../core/errors.js';
import { writeFileAtomic } from './atomic-file.js';
import { MANIFEST_FORMAT, type Manifest } from './types.js';

export const MANIFEST_SUFFIX = '.manifest.json';

export function manifestPath(archive: string): string {
  return `${archive}${MANIFEST_SUFFIX}`;
}

/** The manifest of an archive, or undefined when it has none. */
export function readManifest(archive: string): Manifest | undefined {
  let text: string;
  try {
    text = readFileSync(manifestPath(archive), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw usageError(
      'backup.manifest-unreadable',
      `cannot read ${manifestPath(archive)}: ${(error as Error).message}`,
    );
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text) as Manifest;
  } catch {
    throw usageError('backup.manifest-invalid', `${manifestPath(archive)} is not valid JSON`);
  }
  if (manifest.format !== MANIFEST_FORMAT) {
    throw usageError('backup.manifest-invalid', `${manifestPath(archive)} is not a coderdb backup manifest`);
  }
  return manifest;
}

export async function writeManifest(archive: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(manifestPath(archive), `${JSON.stringify(manifest, null, 2)}\n`);
}
