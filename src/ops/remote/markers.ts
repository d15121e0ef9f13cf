// In-band signalling through a pty. ECS Exec reports no exit status and mixes everything into one
// terminal stream, so the wrapper scripts print markers: a "ready" line once the terminal is set up
// (or why it cannot be), and the command's exit status at the end. A marker carries a random
// nonce, so no output can forge one, and the scripts print it from two halves, so the marker never
// appears whole in the command line either (a command that prints its own argv cannot fake it).
// It starts with the control byte RS (0x1e) rather than a newline: it need not start a line (the
// status follows the output directly, so nothing has to be cut off before it), and a scanner only
// holds back output whose tail could begin a marker, which a trailing newline then never does, so
// the last line of a running command shows at once.
// The scanners are pure byte logic over streamed chunks, so binary output passes untouched.

import { randomBytes } from 'node:crypto';

export class Marker {
  /** The marker as it appears in the output. */
  readonly text: string;
  readonly #head: string;
  readonly #tail: string;

  constructor(nonce = randomBytes(12).toString('hex')) {
    this.#head = `CODERDB_${nonce.slice(0, nonce.length / 2)}`;
    this.#tail = `${nonce.slice(nonce.length / 2)}_`;
    this.text = `\x1e${this.#head}${this.#tail}`;
  }

  /** A shell command printing `<marker>:<label>:<value>` and a newline. */
  print(label: string, value: string): string {
    return `printf '\\036%s%s:${label}:%s\\n' ${this.#head} ${this.#tail} ${value}`;
  }
}

/** The longest suffix of `data` that is a proper prefix of `pattern`. */
function partialMatchAtEnd(data: Buffer, pattern: Buffer): number {
  const longest = Math.min(data.length, pattern.length - 1);
  for (let size = longest; size > 0; size--) {
    if (data.subarray(data.length - size).equals(pattern.subarray(0, size))) return size;
  }
  return 0;
}

export interface PreambleResult {
  /** What follows `<marker>:<label>:` on the marker line. */
  value: string;
  /** Bytes after the marker line: already the command's output. */
  after: Buffer;
}

/** Collects output until the first `<marker>:<label>:…` line. */
export class PreambleScanner {
  readonly #pattern: Buffer;
  readonly #limit: number;
  #data: Buffer = Buffer.alloc(0);

  constructor(marker: Marker, label: string, limit = 64 * 1024) {
    this.#pattern = Buffer.from(`${marker.text}:${label}:`);
    this.#limit = limit;
  }

  /** The result once the line is complete; undefined while more output is needed. */
  push(chunk: Buffer): PreambleResult | undefined {
    this.#data = Buffer.concat([this.#data, chunk]);
    const start = this.#data.indexOf(this.#pattern);
    if (start >= 0) {
      const valueStart = start + this.#pattern.length;
      const newline = this.#data.indexOf(0x0a, valueStart);
      if (newline >= 0) {
        return {
          value: this.#data.subarray(valueStart, newline).toString('latin1').replace(/\r$/, ''),
          after: this.#data.subarray(newline + 1),
        };
      }
    }
    if (this.#data.length > this.#limit) {
      throw new RangeError('no marker line in the first output of the command');
    }
    return undefined;
  }
}

/**
 * Finds `<marker>:rc:<n>` and its line end right after a command's output. Bytes that cannot be
 * part of it are released at once; a tail that might be its beginning is held until the next chunk
 * says otherwise.
 */
export class StatusScanner {
  readonly #pattern: Buffer;
  #held: Buffer = Buffer.alloc(0);
  #status: number | undefined;

  constructor(marker: Marker) {
    this.#pattern = Buffer.from(`${marker.text}:rc:`);
  }

  get status(): number | undefined {
    return this.#status;
  }

  /** Output that is certainly the command's; nothing once the status has been seen. */
  push(chunk: Buffer): Buffer {
    if (this.#status !== undefined) return Buffer.alloc(0);
    const data = this.#held.length > 0 ? Buffer.concat([this.#held, chunk]) : chunk;
    const start = data.indexOf(this.#pattern);
    if (start >= 0) {
      const valueStart = start + this.#pattern.length;
      const newline = data.indexOf(0x0a, valueStart);
      if (newline >= 0) {
        const value = data.subarray(valueStart, newline).toString('latin1').replace(/\r$/, '');
        if (/^\d{1,3}$/.test(value)) {
          this.#status = Number(value);
          this.#held = Buffer.alloc(0);
          return data.subarray(0, start);
        }
      } else if (data.length - valueStart <= 8) {
        // The status digits are still on their way.
        this.#held = Buffer.from(data.subarray(start));
        return data.subarray(0, start);
      }
      // Not a status line after all (cannot happen without the nonce): release it as output.
      const released = start + 1;
      this.#held = Buffer.alloc(0);
      return Buffer.concat([data.subarray(0, released), this.push(data.subarray(released))]);
    }
    const keep = partialMatchAtEnd(data, this.#pattern);
    this.#held = Buffer.from(data.subarray(data.length - keep));
    return data.subarray(0, data.length - keep);
  }

  /** At the end of a stream without a status line: what was held back is output after all. */
  flush(): Buffer {
    const held = this.#held;
    this.#held = Buffer.alloc(0);
    return this.#status === undefined ? held : Buffer.alloc(0);
  }
}

/** CR LF → LF over a stream, for a pty whose output processing could not be switched off. */
export class CrlfToLf {
  #pendingCr = false;

  push(chunk: Buffer): Buffer {
    const data = this.#pendingCr ? Buffer.concat([Buffer.from('\r'), chunk]) : chunk;
    this.#pendingCr = data.length > 0 && data[data.length - 1] === 0x0d;
    const body = this.#pendingCr ? data.subarray(0, -1) : data;
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = body.indexOf('\r\n'); at >= 0; at = body.indexOf('\r\n', from)) {
      parts.push(body.subarray(from, at));
      from = at + 1;
    }
    parts.push(body.subarray(from));
    return parts.length === 1 ? body : Buffer.concat(parts);
  }

  flush(): Buffer {
    const rest = this.#pendingCr ? Buffer.from('\r') : Buffer.alloc(0);
    this.#pendingCr = false;
    return rest;
  }
}
