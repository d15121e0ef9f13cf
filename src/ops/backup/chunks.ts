// Reassembles the files of a parallel dump from chunks that arrive in any order over several
// sessions: each chunk is unpacked, its length checked against its place in the file, and written
// at its offset; at the end every file must be complete and match the size and SHA-256 the
// container listed. A missing, short or damaged chunk fails the backup; nothing is guessed.

import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { connectionError } from '../../core/errors.js';
import type { SectionSink } from './frame.js';
import { hashFile } from './meter.js';
import { CHUNK_SIZE } from './remote-script.js';
import { isSafeMemberName } from './tar.js';
import type { ArchiveMember, ProgressListener } from './types.js';

const gunzipAsync = promisify(gunzip);
/** gzip of incompressible data grows a little; anything much bigger is not one of our chunks. */
const MAX_ENCODED_CHUNK = CHUNK_SIZE * 2;

interface FileState {
  /** Unknown while only chunks of a file pg_dump was still writing have arrived. */
  size: number | undefined;
  received: Set<number>;
}

export class ChunkAssembler {
  readonly #dir: string;
  readonly #onProgress: ProgressListener | undefined;
  readonly #files = new Map<string, FileState>();
  readonly #handles = new Map<string, Promise<FileHandle>>();
  readonly #listing = new Map<string, { size: number; sha256: string }>();
  readonly #started = performance.now();
  bytes = 0;

  constructor(dir: string, onProgress?: ProgressListener) {
    this.#dir = dir;
    this.#onProgress = onProgress;
  }

  /** A `file NAME SIZE SHA256` marker from the control session. */
  expect(args: string[]): void {
    const [name = '', size = '', sha256 = ''] = args;
    if (!isSafeMemberName(name) || !/^\d+$/.test(size) || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw damaged(`the container listed a file oddly: ${args.join(' ').slice(0, 120)}`);
    }
    this.#listing.set(name, { size: Number(size), sha256 });
  }

  /**
   * The sink for a `begin chunk NAME INDEX FILESIZE gzip|none` section; FILESIZE is `-` for a whole
   * chunk of a file pg_dump is still writing.
   */
  chunk(args: string[]): SectionSink {
    const [name = '', indexText = '', sizeText = '', packing = 'none'] = args;
    if (!isSafeMemberName(name) || !/^\d+$/.test(indexText) || !/^(\d+|-)$/.test(sizeText)) {
      throw damaged(`a chunk header is malformed: ${args.join(' ').slice(0, 120)}`);
    }
    const index = Number(indexText);
    const size = sizeText === '-' ? undefined : Number(sizeText);
    const parts: Buffer[] = [];
    let encoded = 0;
    return {
      write: (bytes) => {
        encoded += bytes.length;
        if (encoded > MAX_ENCODED_CHUNK) throw damaged(`chunk ${index} of ${name} is too large`);
        parts.push(bytes);
      },
      end: async () => {
        const joined = Buffer.concat(parts);
        const bytes = packing === 'gzip' ? await gunzipAsync(joined).catch(() => undefined) : joined;
        if (!bytes) throw damaged(`chunk ${index} of ${name} does not unpack`);
        const expected =
          size === undefined ? CHUNK_SIZE : Math.max(0, Math.min(CHUNK_SIZE, size - index * CHUNK_SIZE));
        if (bytes.length !== expected) {
          throw damaged(`chunk ${index} of ${name} has ${bytes.length} bytes, expected ${expected}`);
        }
        await this.#write(name, size, index, bytes);
      },
    };
  }

  async #write(name: string, size: number | undefined, index: number, bytes: Buffer): Promise<void> {
    const state = this.#files.get(name) ?? { size, received: new Set<number>() };
    if (size !== undefined && state.size !== undefined && state.size !== size) {
      throw damaged(`${name} was announced with two different sizes`);
    }
    state.size ??= size;
    if (state.received.has(index)) throw damaged(`chunk ${index} of ${name} arrived twice`);
    this.#files.set(name, state);
    let handle = this.#handles.get(name);
    if (!handle) {
      handle = open(join(this.#dir, name), constants.O_RDWR | constants.O_CREAT, 0o600);
      this.#handles.set(name, handle);
    }
    if (bytes.length > 0) await (await handle).write(bytes, 0, bytes.length, index * CHUNK_SIZE);
    else await handle;
    state.received.add(index);
    this.bytes += bytes.length;
    this.#onProgress?.({
      phase: 'transfer',
      bytes: this.bytes,
      ...(this.#listing.size
        ? { totalBytes: [...this.#listing.values()].reduce((sum, file) => sum + file.size, 0) }
        : {}),
      elapsedMs: performance.now() - this.#started,
    });
  }

  /** Checks every listed file is complete and matches; returns the members, toc.dat first. */
  async finish(): Promise<ArchiveMember[]> {
    await this.close();
    if (this.#listing.size === 0) throw damaged('the container listed no files');
    for (const name of this.#files.keys()) {
      if (!this.#listing.has(name)) throw damaged(`${name} arrived but the container did not list it`);
    }
    const members: ArchiveMember[] = [];
    for (const [name, listed] of this.#listing) {
      const state = this.#files.get(name);
      const chunks = Math.max(1, Math.ceil(listed.size / CHUNK_SIZE));
      const complete =
        state &&
        (state.size === undefined || state.size === listed.size) &&
        state.received.size === chunks &&
        [...state.received].every((index) => index < chunks);
      if (!complete) {
        throw damaged(`${name} is incomplete (${state?.received.size ?? 0} of ${chunks} chunks)`);
      }
      const local = await hashFile(join(this.#dir, name));
      if (local.size !== listed.size || local.sha256 !== listed.sha256) {
        throw damaged(`${name} does not match the container's checksum`);
      }
      members.push({ name, size: listed.size, sha256: listed.sha256 });
    }
    return members.sort((a, b) =>
      a.name === 'toc.dat' ? -1 : b.name === 'toc.dat' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  /** Closes the open files; safe to call more than once. */
  async close(): Promise<void> {
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(handles.map(async (handle) => (await handle.catch(() => undefined))?.close()));
  }
}

function damaged(message: string) {
  return connectionError('backup.parallel-damaged', `the parallel backup is damaged: ${message}`, {
    hint: 'nothing was kept; run it again, or without --parallel',
  });
}
