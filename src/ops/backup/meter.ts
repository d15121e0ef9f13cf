// A pass-through that measures what flows into an archive: byte count, SHA-256 and throttled
// progress events. Every path that writes or reads an archive puts one in its pipeline, so the
// manifest's size and checksum are computed from the very bytes that reached the disk.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ProgressListener, ProgressPhase } from './types.js';

const PROGRESS_EVERY_MS = 200;

export class Meter extends Transform {
  bytes = 0;
  /** The table being dumped, set by whoever knows (shown in the next progress event). */
  table: string | undefined;
  readonly #hash: Hash = createHash('sha256');
  readonly #started = performance.now();
  #lastReport = 0;

  constructor(
    private readonly phase: ProgressPhase,
    private readonly onProgress?: ProgressListener,
    private totalBytes?: number,
    /** totalBytes is a guess (the database's size for a dump), not the exact size. */
    private estimated = false,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  /** A total learnt once the stream is under way (the container reports the database's size). */
  estimateTotal(bytes: number): void {
    if (!(bytes > 0)) return;
    this.totalBytes = bytes;
    this.estimated = true;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    this.#report(false);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#report(true);
    callback();
  }

  /** Hex SHA-256 of everything that passed; call once, after the stream finished. */
  digest(): string {
    return this.#hash.digest('hex');
  }

  #report(force: boolean): void {
    if (!this.onProgress) return;
    const now = performance.now();
    if (!force && now - this.#lastReport < PROGRESS_EVERY_MS) return;
    this.#lastReport = now;
    const elapsedMs = now - this.#started;
    const total = this.totalBytes;
    // An estimate that has been passed says nothing any more: no total, no ETA then.
    const known = total !== undefined && (!this.estimated || this.bytes <= total);
    this.onProgress({
      phase: this.phase,
      bytes: this.bytes,
      ...(known ? { totalBytes: total, ...(this.estimated ? { estimated: true } : {}) } : {}),
      ...(known && this.bytes > 0
        ? { etaMs: force ? 0 : (elapsedMs * (total - this.bytes)) / this.bytes }
        : {}),
      ...(this.table ? { table: this.table } : {}),
      elapsedMs,
    });
  }
}

/** SHA-256 and size of a file, read in a stream. */
export async function hashFile(
  path: string,
  onProgress?: ProgressListener,
): Promise<{ sha256: string; size: number }> {
  const meter = new Meter('verify', onProgress, statSync(path).size);
  await pipeline(
    createReadStream(path, { highWaterMark: 1024 * 1024 }),
    meter,
    new Writable({ write: (_chunk, _encoding, callback) => callback() }),
  );
  return { sha256: meter.digest(), size: meter.bytes };
}
