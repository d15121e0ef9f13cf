// Reading operator-supplied input (SQL files, stdin, config and undo files) with a size limit that
// is checked while reading, so that `--config /dev/zero` or `query -f /dev/zero` ends with one line
// instead of an out-of-memory kill, and strict UTF-8 decoding so that a stray byte is refused
// rather than silently turned into U+FFFD.

import { closeSync, openSync, readSync } from 'node:fs';
import { usageError } from './errors.js';

export const MiB = 1024 * 1024;

/** The largest SQL text coderdb reads from a file or stdin. */
export const SQL_LIMIT = 64 * MiB;
/** The largest config file. */
export const CONFIG_LIMIT = 1 * MiB;
/** The largest undo file (it holds row images, so it can be big; JSON.parse needs it whole). */
export const UNDO_LIMIT = 256 * MiB;

const CHUNK = 1 * MiB;

export interface LimitLabel {
  /** Error code for a too-large input, e.g. `query.too-large`. */
  code: string;
  /** What the input is, for the message: `the SQL file x.sql`, `config file ~/.c.json`. */
  what: string;
}

export function tooLarge(label: LimitLabel, limit: number) {
  return usageError(label.code, `${label.what} is larger than ${limit / MiB} MiB`, {
    hint: 'coderdb reads at most that much; check that the right file was given',
  });
}

/**
 * Reads a whole file but stops as soon as it exceeds `limit` bytes. Errors opening or reading the
 * file (ENOENT, EISDIR, EACCES) are thrown as the system reported them, for the caller to word.
 */
export function readFileBounded(file: string, limit: number, label: LimitLabel): Buffer {
  const fd = openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK);
      const read = readSync(fd, chunk, 0, CHUNK, null);
      if (read === 0) break;
      total += read;
      if (total > limit) throw tooLarge(label, limit);
      chunks.push(read === CHUNK ? chunk : chunk.subarray(0, read));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** Reads a stream (stdin) to its end, stopping as soon as it exceeds `limit` bytes. */
export async function readStreamBounded(
  stream: NodeJS.ReadableStream & { destroy?: () => void },
  limit: number,
  label: LimitLabel,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += bytes.length;
    if (total > limit) {
      stream.destroy?.();
      throw tooLarge(label, limit);
    }
    chunks.push(bytes);
  }
  return Buffer.concat(chunks, total);
}

const strict = new TextDecoder('utf-8', { fatal: true });

/** Decodes UTF-8, or undefined when the bytes are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strict.decode(bytes);
  } catch {
    return undefined;
  }
}
