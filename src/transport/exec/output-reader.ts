// Splits the pty's byte stream into marker lines (`@<nonce> kind args…`) and the data between them,
// incrementally: a marker is recognised only at the start of a line, and data is handed on in
// slices as large as the chunks allow, so a multi-megabyte result is never gathered into one piece.
// Carriage returns are dropped: a pty that stayed in cooked mode turns \n into \r\n, and nothing
// the protocol sends on purpose contains \r (results travel base64-encoded).

export type OutputItem =
  | { kind: 'marker'; name: string; args: string[] }
  /** Bytes between markers (or before the first one), newlines included. */
  | { kind: 'data'; bytes: Buffer };

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const AT = 0x40;
/** A line starting with `@` longer than this is data, not a marker. */
const MAX_MARKER_LINE = 1024;

export class OutputReader {
  readonly #prefix: Buffer;
  #atLineStart = true;
  /** A line that starts with `@` and may be a marker, until its newline arrives. */
  #candidate: Buffer[] | undefined;
  #candidateLength = 0;

  constructor(markerPrefix: string) {
    this.#prefix = Buffer.from(`${markerPrefix} `, 'latin1');
  }

  push(input: Buffer): OutputItem[] {
    const chunk = input.includes(CARRIAGE_RETURN) ? dropCarriageReturns(input) : input;
    const items: OutputItem[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.#candidate) {
        i = this.#continueCandidate(chunk, i, items);
        continue;
      }
      if (this.#atLineStart && chunk[i] === AT) {
        this.#candidate = [];
        this.#candidateLength = 0;
        continue;
      }
      // Data up to the first line that starts with `@` (or the end of the chunk).
      let end = i;
      for (;;) {
        const newline = chunk.indexOf(NEWLINE, end);
        if (newline < 0) {
          end = chunk.length;
          this.#atLineStart = false;
          break;
        }
        end = newline + 1;
        this.#atLineStart = true;
        if (end >= chunk.length || chunk[end] === AT) break;
      }
      items.push({ kind: 'data', bytes: chunk.subarray(i, end) });
      i = end;
    }
    return items;
  }

  /** What is left when the stream ends: an unterminated line is data. */
  end(): OutputItem[] {
    if (!this.#candidate) return [];
    const bytes = Buffer.concat(this.#candidate);
    this.#candidate = undefined;
    return bytes.length > 0 ? [{ kind: 'data', bytes }] : [];
  }

  #continueCandidate(chunk: Buffer, start: number, items: OutputItem[]): number {
    const candidate = this.#candidate!;
    const newline = chunk.indexOf(NEWLINE, start);
    const end = newline < 0 ? chunk.length : newline;
    candidate.push(chunk.subarray(start, end));
    this.#candidateLength += end - start;
    if (this.#candidateLength > MAX_MARKER_LINE) {
      // Too long to be a marker: hand it on as data and carry on inside the line.
      items.push({ kind: 'data', bytes: Buffer.concat(candidate) });
      this.#candidate = undefined;
      this.#atLineStart = false;
      return end;
    }
    if (newline < 0) return chunk.length;
    this.#candidate = undefined;
    this.#atLineStart = true;
    const line = Buffer.concat(candidate);
    if (line.subarray(0, this.#prefix.length).equals(this.#prefix)) {
      const [name = '', ...args] = line.subarray(this.#prefix.length).toString('latin1').split(' ');
      items.push({ kind: 'marker', name, args });
    } else {
      items.push({ kind: 'data', bytes: Buffer.concat([line, Buffer.from([NEWLINE])]) });
    }
    return newline + 1;
  }
}

function dropCarriageReturns(chunk: Buffer): Buffer {
  const out = Buffer.allocUnsafe(chunk.length);
  let length = 0;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i]!;
    if (byte !== CARRIAGE_RETURN) out[length++] = byte;
  }
  return out.subarray(0, length);
}
