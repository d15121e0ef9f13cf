// Incremental decoders for what psql sends back: base64 as the container's `base64` prints it (76
// characters a line), optionally gzip inside it, and CSV as psql's `\pset format csv` writes it.
// Each takes bytes as they arrive and gives back what is complete, holding only the unfinished
// tail, so a result streams through in bounded memory.

import { constants, createGunzip, type Gunzip } from 'node:zlib';
import { connectionError } from '../../core/errors.js';

const BASE64_TEXT = /^[A-Za-z0-9+/=\n ]*$/;

export class Base64Decoder {
  #carry = '';

  push(bytes: Buffer): Buffer {
    const text = bytes.toString('latin1');
    if (!BASE64_TEXT.test(text)) throw garbled('the container sent output that is not base64');
    const all = this.#carry + text.replace(/[\n ]/g, '');
    const usable = all.length - (all.length % 4);
    this.#carry = all.slice(usable);
    return usable > 0 ? Buffer.from(all.slice(0, usable), 'base64') : Buffer.alloc(0);
  }

  /** Everything must have arrived in whole groups of four characters. */
  end(): void {
    if (this.#carry !== '') throw garbled('the base64 output from the container was cut short');
  }
}

/** gunzip over the decoded bytes; output is collected as zlib produces it. */
export class GunzipDecoder {
  readonly #gunzip: Gunzip;
  #output: Buffer[] = [];
  readonly #failed: Promise<never>;

  constructor() {
    this.#gunzip = createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
    this.#gunzip.on('data', (chunk: Buffer) => this.#output.push(chunk));
    this.#failed = new Promise<never>((_, reject) => {
      this.#gunzip.once('error', (error) =>
        reject(garbled(`the compressed result could not be inflated: ${error.message}`)),
      );
    });
    this.#failed.catch(() => undefined);
  }

  /** Feeds compressed bytes and returns what has been inflated so far. */
  async push(bytes: Buffer): Promise<Buffer> {
    if (bytes.length > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.#gunzip.write(bytes, () => resolve())),
        this.#failed,
      ]);
    }
    return this.#take();
  }

  /** The rest, once the whole stream has been inflated. */
  async end(): Promise<Buffer> {
    const ended = new Promise<void>((resolve) => this.#gunzip.once('end', resolve));
    this.#gunzip.end();
    await Promise.race([ended, this.#failed]);
    return this.#take();
  }

  #take(): Buffer {
    const out = this.#output.length === 1 ? this.#output[0]! : Buffer.concat(this.#output);
    this.#output = [];
    return out;
  }
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const NEWLINE = 0x0a;

type CsvState = 'fieldStart' | 'unquoted' | 'quoted' | 'quoteInQuoted';

/**
 * RFC 4180 CSV as psql writes it (comma, double quotes, \n between records), parsed at the byte
 * level: the three special bytes never occur inside a UTF-8 multibyte sequence, and fields are
 * decoded only when whole. Fields come out as raw bytes so that the caller can recognise the NULL
 * marker before decoding.
 */
export class CsvParser {
  #state: CsvState = 'fieldStart';
  #field: Buffer[] = [];
  #record: Buffer[] = [];

  push(bytes: Buffer): Buffer[][] {
    const records: Buffer[][] = [];
    let i = 0;
    while (i < bytes.length) {
      switch (this.#state) {
        case 'fieldStart': {
          const byte = bytes[i]!;
          if (byte === QUOTE) {
            this.#state = 'quoted';
            i += 1;
          } else if (byte === COMMA) {
            this.#record.push(Buffer.alloc(0));
            i += 1;
          } else if (byte === NEWLINE) {
            this.#record.push(Buffer.alloc(0));
            records.push(this.#record);
            this.#record = [];
            i += 1;
          } else {
            this.#state = 'unquoted';
          }
          break;
        }
        case 'unquoted': {
          const end = nextOf(bytes, i, COMMA, NEWLINE);
          this.#field.push(bytes.subarray(i, end));
          if (end < bytes.length) {
            this.#finishField();
            if (bytes[end] === NEWLINE) {
              records.push(this.#record);
              this.#record = [];
            }
            i = end + 1;
          } else i = end;
          break;
        }
        case 'quoted': {
          const end = bytes.indexOf(QUOTE, i);
          if (end < 0) {
            this.#field.push(bytes.subarray(i));
            i = bytes.length;
          } else {
            this.#field.push(bytes.subarray(i, end));
            this.#state = 'quoteInQuoted';
            i = end + 1;
          }
          break;
        }
        case 'quoteInQuoted': {
          const byte = bytes[i]!;
          if (byte === QUOTE) {
            this.#field.push(bytes.subarray(i, i + 1));
            this.#state = 'quoted';
          } else if (byte === COMMA || byte === NEWLINE) {
            this.#finishField();
            if (byte === NEWLINE) {
              records.push(this.#record);
              this.#record = [];
            }
          } else {
            throw garbled('psql sent a malformed CSV field');
          }
          i += 1;
          break;
        }
      }
    }
    return records;
  }

  /** True when no record is half-way through. */
  get idle(): boolean {
    return this.#state === 'fieldStart' && this.#record.length === 0;
  }

  #finishField(): void {
    this.#record.push(this.#field.length === 1 ? this.#field[0]! : Buffer.concat(this.#field));
    this.#field = [];
    this.#state = 'fieldStart';
  }
}

function nextOf(bytes: Buffer, from: number, a: number, b: number): number {
  for (let i = from; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === a || byte === b) return i;
  }
  return bytes.length;
}

/** Counts the rows in COPY data (text: one line each; CSV: newlines outside quotes). */
export class CopyRowCounter {
  #count = 0;
  #inQuotes = false;

  constructor(private readonly format: 'text' | 'csv') {}

  push(bytes: Buffer): void {
    if (this.format === 'text') {
      for (let at = bytes.indexOf(NEWLINE); at >= 0; at = bytes.indexOf(NEWLINE, at + 1)) this.#count += 1;
      return;
    }
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === QUOTE) this.#inQuotes = !this.#inQuotes;
      else if (byte === NEWLINE && !this.#inQuotes) this.#count += 1;
    }
  }

  get count(): number {
    return this.#count;
  }
}

function garbled(message: string) {
  return connectionError('exec.garbled-output', message, {
    hint: 'the session with psql in the container is out of step; run the command again',
  });
}
