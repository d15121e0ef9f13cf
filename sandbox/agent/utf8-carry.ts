// How the SSM agent cuts pty output into messages (AGENT shell.go processStdoutData): it walks the
// bytes rune by rune with Go's UTF-8 decoder and, when it meets something that is not a valid rune
// within the last 3 bytes, keeps those bytes back for the next read so a character is not split
// across messages. We reproduce it byte for byte, including two quirks a client must live with:
// - a genuine U+FFFD (EF BF BD) outside the tail is sent as the single byte EF (the decoder reports
//   it as RuneError, the agent writes one byte and skips three);
// - bytes still held back when the pty closes are never sent.
// Both only affect output that is not plain UTF-8 text, which is why callers base64-encode binary.

/** Go's utf8.UTFMax. */
const UTF_MAX = 4;

interface DecodedRune {
  size: number;
  /** Go returns RuneError both for invalid input and for a real U+FFFD. */
  isRuneError: boolean;
}

/** Go's utf8.DecodeRune: width and whether the result is RuneError. */
function decodeRune(bytes: Buffer, at: number): DecodedRune {
  const invalid = { size: 1, isRuneError: true };
  const b0 = bytes[at] ?? 0;
  if (b0 < 0x80) return { size: 1, isRuneError: false };
  let size: number;
  let low = 0x80;
  let high = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) size = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    size = 3;
    if (b0 === 0xe0) low = 0xa0;
    if (b0 === 0xed) high = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    size = 4;
    if (b0 === 0xf0) low = 0x90;
    if (b0 === 0xf4) high = 0x8f;
  } else return invalid;
  if (at + size > bytes.length) return invalid;
  const b1 = bytes[at + 1] ?? 0;
  if (b1 < low || b1 > high) return invalid;
  for (let k = 2; k < size; k++) {
    const b = bytes[at + k] ?? 0;
    if (b < 0x80 || b > 0xbf) return invalid;
  }
  const isReplacement = size === 3 && b0 === 0xef && b1 === 0xbf && bytes[at + 2] === 0xbd;
  return { size, isRuneError: isReplacement };
}

/** Splits `bytes` (carry from last time + a new read) into what to send now and what to keep. */
export function splitAtUtf8Boundary(bytes: Buffer): { send: Buffer; carry: Buffer } {
  const out: Buffer[] = [];
  let runStart = 0;
  let i = 0;
  while (i < bytes.length) {
    const rune = decodeRune(bytes, i);
    if (!rune.isRuneError) {
      i += rune.size;
      continue;
    }
    if (bytes.length - i < UTF_MAX) break;
    out.push(bytes.subarray(runStart, i + 1));
    i += rune.size;
    runStart = i;
  }
  out.push(bytes.subarray(runStart, i));
  return { send: Buffer.concat(out), carry: Buffer.from(bytes.subarray(i)) };
}
