// Writing a file so that it either appears whole or not at all. Bytes go to a hidden temporary file
// in the destination directory (`.NAME.partial-PID-RAND`, so the rename cannot cross filesystems);
// commit() fsyncs it, lets the caller put its companion (the manifest) in place, gives it its final
// name (never replacing an existing file) and fsyncs the directory. A crash, a kill or an error
// leaves at most a `.partial` file that nothing mistakes for a backup; a normal exit (Ctrl-C
// included, which exits the process at once) removes it through the exit hook.

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  rmSync,
  type WriteStream,
} from 'node:fs';
import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export const PARTIAL_MARK = '.partial-';

/** Temporary paths to remove if the process exits before they are committed or aborted. */
const pending = new Set<string>();
let hooked = false;

function removePendingOnExit(): void {
  for (const path of pending) rmSync(path, { recursive: true, force: true });
  pending.clear();
}

/** Registers a temporary file or directory for removal at process exit (sync, best effort). */
export function trackTemporary(path: string): () => void {
  if (!hooked) {
    hooked = true;
    process.once('exit', removePendingOnExit);
  }
  pending.add(path);
  return () => pending.delete(path);
}

/** `.NAME.partial-PID-RAND` beside `finalPath`. */
export function partialPath(finalPath: string, suffix = ''): string {
  const tag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  return join(dirname(finalPath), `.${basename(finalPath)}${PARTIAL_MARK}${tag}${suffix}`);
}

/** mkdir -p with owner-only permissions: backups hold password hashes and tokens. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export class AtomicFile {
  readonly stream: WriteStream;
  readonly tempPath: string;
  #untrack: () => void;
  #done = false;

  private constructor(tempPath: string) {
    this.tempPath = tempPath;
    this.#untrack = trackTemporary(tempPath);
    // The stream owns its descriptor and closes it; commit() fsyncs through a descriptor of its own
    // (fsync flushes the file, whichever descriptor names it), so nothing is ever closed twice.
    this.stream = createWriteStream(tempPath, { flags: 'wx', mode: 0o600, highWaterMark: 256 * 1024 });
  }

  /** A new temporary file (exclusive, mode 0600) in `dir`; its final name is chosen at commit. */
  static create(dir: string, label: string): AtomicFile {
    ensurePrivateDir(dir);
    return new AtomicFile(partialPath(join(dir, label)));
  }

  /**
   * Makes the file durable and visible as `finalPath` (in the same directory): end the stream
   * (the caller has written everything), fsync, run `beforeRename` (the manifest goes in first, so
   * every final archive has one), link to the final name (which fails rather than replace an
   * existing file), drop the temporary name, fsync the directory.
   */
  async commit(finalPath: string, beforeRename?: () => Promise<void>): Promise<void> {
    if (this.#done) throw new Error('AtomicFile already finished');
    await this.#finishStream();
    fsyncFile(this.tempPath);
    await beforeRename?.();
    try {
      await link(this.tempPath, finalPath);
      await rm(this.tempPath, { force: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw error;
      // Filesystems without hard links: rename, after checking the name is still free.
      if (existsSync(finalPath)) throw Object.assign(new Error(`${finalPath} exists`), { code: 'EEXIST' });
      await rename(this.tempPath, finalPath);
    }
    this.#done = true;
    this.#untrack();
    await fsyncDirectory(dirname(finalPath));
  }

  /** Removes the temporary file; safe to call after commit (does nothing) or twice. */
  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.stream.destroy();
    await rm(this.tempPath, { force: true });
    this.#untrack();
  }

  /** Ends the stream and waits until its descriptor is closed, so every byte is in the file. */
  #finishStream(): Promise<void> {
    if (this.stream.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.once('close', () => resolve());
      this.stream.end();
    });
  }
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a small file atomically (temp, fsync, rename, fsync dir). */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  ensurePrivateDir(dirname(path));
  const temp = partialPath(path);
  const untrack = trackTemporary(temp);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await fsyncDirectory(dirname(path));
  } finally {
    untrack();
    await rm(temp, { force: true });
  }
}

async function fsyncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await handle?.close();
  }
}
