// Piped stdin for a one-shot command travels as base64 lines: only letters, digits, `+`, `/`, `=`
// and LF reach the pty's line discipline, so no byte is taken for a signal, an erase or an end of
// file, and no line comes near the canonical-mode limit of 4095 bytes. The container decodes with
// `base64 -d`; ^D at the start of a line ends the input.
// Each chunk of input is encoded at once, its last line padded, rather than holding back the bytes
// that do not fill a 3-byte group: a command reading a line at a time (`read`, `head -c`) must see
// it while the pipe stays open. Padding that ends a line is fine for the decoders in question:
// busybox decodes line by line, and GNU coreutils accepts concatenated padded blocks.

/** 57 input bytes make one 76-character line. */
const BYTES_PER_LINE = 57;

/** The byte that means end of input at the start of a line (VEOF). */
export const END_OF_INPUT = Buffer.from([0x04]);

/** `bytes` as base64 lines, each ending in LF; empty input gives nothing. */
export function base64Lines(bytes: Buffer): Buffer {
  if (bytes.length === 0) return Buffer.alloc(0);
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += BYTES_PER_LINE) {
    lines.push(bytes.subarray(offset, offset + BYTES_PER_LINE).toString('base64'));
  }
  return Buffer.from(`${lines.join('\n')}\n`, 'latin1');
}
