// The server's `COPY … TO STDOUT WITH (FORMAT csv, HEADER)` made byte for byte what `psql --csv`
// prints for the same query, as it streams. The two quote the same way except in three places:
// - COPY quotes an empty string (`""`) to tell it from NULL; psql prints both as an empty field;
// - COPY quotes a field that is exactly `\.` only when it is the row's only column; psql always;
// - for a result without columns COPY still sends one empty line per row; psql only the header's.
// Everything else passes through untouched. It also counts the records, so that the caller can
// check the data against the row count in the command tag, and says when the data was cut short.

import { CoderdbError } from '../errors.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

type State =
  /** At the start of a field (also of a record). */
  | 'fieldStart'
  | 'unquoted'
  | 'quoted'
  /** A quote inside a quoted field: the field's end, or the first half of `""`. */
  | 'quoteInQuoted'
  /** Held back: `"` at a field's start. */
  | 'open'
  /** Held back: `""` at a field's start (an empty string, or `"""…` opening with a quote). */
  | 'openTwice'
  /** Held back: `\` at a field's start. */
  | 'backslash'
  /** Held back: `\.` at a field's start. */
  | 'backslashDot';

const QUOTED_EOD = Buffer.from('"\\."', 'latin1');
const TWO_QUOTES = Buffer.from('""', 'latin1');

export class CopyCsvToPsql {
  #state: State = 'fieldStart';
  #records = 0;
  #header = true;
  /** The header was an empty line: the result has no columns, and psql prints no rows for it. */
  #noColumns = false;
  #recordHasBytes = false;

  /** Records seen, the header included. */
  get records(): number {
    return this.#records;
  }

  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let from = 0;
    const emit = (end: number) => {
      if (end > from) out.push(chunk.subarray(from, end));
    };
    let i = 0;
    while (i < chunk.length) {
      const byte = chunk[i]!;
      switch (this.#state) {
        case 'fieldStart':
          if (byte === NEWLINE) {
            if (this.#endRecord()) {
              emit(i);
              from = i + 1;
            }
          } else if (byte === QUOTE || byte === BACKSLASH) {
            emit(i);
            this.#state = byte === QUOTE ? 'open' : 'backslash';
            this.#recordHasBytes = true;
            from = i + 1;
          } else {
            if (byte !== COMMA) this.#state = 'unquoted';
            this.#recordHasBytes = true;
          }
          if (this.#state === 'fieldStart' || byte === QUOTE || byte === BACKSLASH) i += 1;
          break;
        case 'unquoted': {
          const end = nextDelimiter(chunk, i);
          if (end === chunk.length) {
            i = end;
          } else {
            this.#state = 'fieldStart';
            i = chunk[end] === COMMA ? end + 1 : end;
          }
          break;
        }
        case 'quoted': {
          const end = chunk.indexOf(QUOTE, i);
          if (end < 0) {
            i = chunk.length;
          } else {
            this.#state = 'quoteInQuoted';
            i = end + 1;
          }
          break;
        }
        case 'quoteInQuoted':
          if (byte === QUOTE) {
            this.#state = 'quoted';
            i += 1;
          } else {
            this.#state = 'fieldStart';
            if (byte === COMMA) i += 1;
          }
          break;
        case 'open':
          if (byte === QUOTE) {
            this.#state = 'openTwice';
            i += 1;
            from = i;
          } else {
            out.push(TWO_QUOTES.subarray(0, 1));
            this.#state = 'quoted';
          }
          break;
        case 'openTwice':
          if (byte === QUOTE) {
            // `"""…`: a quoted field that starts with a quote.
            out.push(TWO_QUOTES);
            this.#state = 'quoted';
            from = i;
            i += 1;
          } else {
            // `""` then a delimiter: an empty string, which psql does not quote.
            this.#state = 'fieldStart';
          }
          break;
        case 'backslash':
          if (byte === DOT) {
            this.#state = 'backslashDot';
            i += 1;
            from = i;
          } else {
            out.push(QUOTED_EOD.subarray(1, 2));
            this.#state = 'unquoted';
          }
          break;
        case 'backslashDot':
          if (byte === COMMA || byte === NEWLINE) {
            out.push(QUOTED_EOD);
            this.#state = 'fieldStart';
          } else {
            out.push(QUOTED_EOD.subarray(1, 3));
            this.#state = 'unquoted';
          }
          break;
      }
    }
    emit(chunk.length);
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /** The data is over: it must end with a whole record. */
  end(): void {
    if (this.#state !== 'fieldStart' || this.#recordHasBytes) {
      throw new CoderdbError('connection', 'result.incomplete', 'the CSV data ended in the middle of a row', {
        hint: 'the output is incomplete; run the command again',
      });
    }
  }

  /** A newline at a field's start ends the record; true when psql would not print it. */
  #endRecord(): boolean {
    let drop = false;
    if (this.#header) {
      this.#header = false;
      this.#noColumns = !this.#recordHasBytes;
    } else {
      drop = this.#noColumns;
    }
    this.#records += 1;
    this.#recordHasBytes = false;
    return drop;
  }
}

function nextDelimiter(bytes: Buffer, from: number): number {
  for (let i = from; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === COMMA || byte === NEWLINE) return i;
  }
  return bytes.length;
}
