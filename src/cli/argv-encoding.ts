// Node decodes command-line arguments lossily: an invalid UTF-8 byte becomes U+FFFD, so SQL with a
// stray Latin-1 byte would run as something other than what was typed. On Linux the raw bytes are
// in /proc/self/cmdline; an argument that is not valid UTF-8 there is refused, as the same bytes
// in a file or on stdin are.

import { decodeUtf8, readFileBounded } from '../core/bounded-read.js';
import { usageError } from '../core/errors.js';

/** Throws a usage error when any argument of this process is not valid UTF-8 (Linux only). */
export function assertArgumentsAreUtf8(): void {
  if (process.platform !== 'linux') return;
  let raw: Buffer;
  try {
    // Linux limits the command line to a few MiB in all (ARG_MAX); read no more than that.
    raw = readFileBounded('/proc/self/cmdline', 16 * 1024 * 1024, {
      code: 'cli.argv',
      what: 'the command line',
    });
  } catch {
    return; // no /proc: nothing to compare with
  }
  const parts = splitNul(raw);
  // The first entries are node and its own options and the script; coderdb's arguments are the
  // last process.argv.length - 2, whatever node put before them.
  const own = parts.slice(Math.max(0, parts.length - (process.argv.length - 2)));
  own.forEach((bytes, index) => {
    if (decodeUtf8(bytes) === undefined) {
      throw usageError('cli.encoding', `argument ${index + 1} is not valid UTF-8`, {
        hint: 'convert it (iconv -t UTF-8), or pass the text in a UTF-8 file with -f',
      });
    }
  });
}

function splitNul(raw: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let index = 0; index < raw.length; index++) {
    if (raw[index] === 0) {
      parts.push(raw.subarray(start, index));
      start = index + 1;
    }
  }
  if (start < raw.length) parts.push(raw.subarray(start));
  return parts;
}
