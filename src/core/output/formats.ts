// Result writers for --format table|json|csv|ndjson. Each consumes the transport's events for one
// statement at a time and writes as rows arrive; only the table format holds rows back, and only
// the first screenful, to size its columns.

import type { Field, RawRow } from '../pgtypes.js';
import { toJsonValue } from '../pgtypes.js';
import type { Sink } from './sink.js';

export const FORMATS = ['table', 'json', 'csv', 'ndjson'] as const;
export type Format = (typeof FORMATS)[number];

export interface ResultWriter {
  /** Set when the server can produce this format itself (COPY … TO STDOUT WITH (FORMAT csv)). */
  readonly copyFormat?: 'csv';
  /** A COPY result starts; its data follows through raw(). */
  startRaw(): Promise<void>;
  /** A statement that returns rows starts. */
  start(fields: Field[]): Promise<void>;
  rows(rows: RawRow[]): Promise<void>;
  /** Data a COPY … TO STDOUT produced, already formatted by the server: written as it is. */
  raw(data: Buffer): Promise<void>;
  /** The statement ended; `fields` is empty for commands that return no rows. */
  end(command: string, rowCount: number | null, hadFields: boolean): Promise<void>;
  /** All statements are done. */
  finish(): Promise<void>;
}

export function createWriter(format: Format, sink: Sink): ResultWriter {
  switch (format) {
    case 'table':
      return new TableWriter(sink);
    case 'csv':
      return new CsvWriter(sink);
    case 'json':
      return new JsonWriter(sink);
    case 'ndjson':
      return new NdjsonWriter(sink);
  }
}

/** What every writer does the same way: COPY data passes through, and nothing to do at the end. */
abstract class WriterBase implements ResultWriter {
  constructor(protected readonly sink: Sink) {}
  abstract start(fields: Field[]): Promise<void>;
  abstract rows(rows: RawRow[]): Promise<void>;

  async startRaw(): Promise<void> {}

  async raw(data: Buffer): Promise<void> {
    await this.sink.write(data);
  }

  async end(_command: string, _rowCount: number | null, _hadFields: boolean): Promise<void> {}
  async finish(): Promise<void> {}
}

// ---- csv: like `psql --csv` (header, RFC 4180 quoting, NULL as an empty field) ----

class CsvWriter extends WriterBase {
  readonly copyFormat = 'csv';
  #results = 0;

  async start(fields: Field[]): Promise<void> {
    await this.#separate();
    await this.sink.write(`${fields.map((field) => csvField(field.name)).join(',')}\n`);
  }

  override async startRaw(): Promise<void> {
    await this.#separate();
  }

  /** Results of several statements are separated by an empty line, as psql does. */
  async #separate(): Promise<void> {
    if (this.#results++ > 0) await this.sink.write('\n');
  }

  async rows(rows: RawRow[]): Promise<void> {
    let text = '';
    for (const row of rows) {
      for (let i = 0; i < row.length; i++) {
        if (i > 0) text += ',';
        const value = row[i];
        if (value !== null && value !== undefined) text += csvField(value);
      }
      text += '\n';
    }
    await this.sink.write(text);
  }
}

const CSV_SPECIAL = /[",\n\r]/;
export function csvField(value: string): string {
  return CSV_SPECIAL.test(value) || value === '\\.' ? `"${value.replace(/"/g, '""')}"` : value;
}

// ---- json: one array of objects per statement that returns rows ----

class JsonWriter extends WriterBase {
  #fields: Field[] = [];
  #first = true;

  async start(fields: Field[]): Promise<void> {
    this.#fields = fields;
    this.#first = true;
    await this.sink.write('[');
  }

  async rows(rows: RawRow[]): Promise<void> {
    let text = '';
    for (const row of rows) {
      text += `${this.#first ? '\n' : ',\n'}  ${JSON.stringify(rowObject(this.#fields, row))}`;
      this.#first = false;
    }
    await this.sink.write(text);
  }

  override async end(_command: string, _rowCount: number | null, hadFields: boolean): Promise<void> {
    if (hadFields) await this.sink.write(this.#first ? ']\n' : '\n]\n');
  }
}

// ---- ndjson: one object per line, all statements ----

class NdjsonWriter extends WriterBase {
  #fields: Field[] = [];

  async start(fields: Field[]): Promise<void> {
    this.#fields = fields;
  }

  async rows(rows: RawRow[]): Promise<void> {
    let text = '';
    for (const row of rows) text += `${JSON.stringify(rowObject(this.#fields, row))}\n`;
    await this.sink.write(text);
  }
}

export function rowObject(fields: Field[], row: RawRow): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    object[field.name] = toJsonValue(row[i] ?? null, field.type);
  }
  return object;
}

// ---- table: psql's aligned format ----

/** Rows held back to size columns; later rows use the same widths. */
const SIZING_ROWS = 1000;
const RIGHT_ALIGNED = new Set(['int', 'bigint', 'numeric', 'float']);

class TableWriter extends WriterBase {
  #fields: Field[] = [];
  #pending: string[][] = [];
  #widths: number[] | undefined;
  #count = 0;
  #results = 0;

  async start(fields: Field[]): Promise<void> {
    this.#fields = fields;
    this.#pending = [];
    this.#widths = undefined;
    this.#count = 0;
    if (this.#results++ > 0) await this.sink.write('\n');
  }

  async rows(rows: RawRow[]): Promise<void> {
    for (const row of rows) {
      this.#count += 1;
      const cells = row.map((value) => (value === null ? '' : displayText(value)));
      if (this.#widths) {
        await this.sink.write(this.#line(cells));
      } else {
        this.#pending.push(cells);
        if (this.#pending.length >= SIZING_ROWS) await this.#flushPending();
      }
    }
  }

  override async end(command: string, rowCount: number | null, hadFields: boolean): Promise<void> {
    if (!hadFields) {
      await this.sink.write(`${command}${rowCount !== null && command !== 'SELECT' ? ` ${rowCount}` : ''}\n`);
      return;
    }
    if (!this.#widths) await this.#flushPending();
    await this.sink.write(`(${this.#count} row${this.#count === 1 ? '' : 's'})\n`);
  }

  async #flushPending(): Promise<void> {
    const widths = this.#fields.map((field) => field.name.length);
    for (const cells of this.#pending) {
      cells.forEach((cell, i) => {
        widths[i] = Math.max(widths[i] ?? 0, cell.length);
      });
    }
    this.#widths = widths;
    const header = this.#fields.map((field, i) => center(field.name, widths[i]!)).join(' | ');
    const rule = widths.map((width) => '-'.repeat(width + 2)).join('+');
    let text = ` ${header}`.trimEnd() + `\n${rule}\n`;
    for (const cells of this.#pending) text += this.#line(cells);
    this.#pending = [];
    await this.sink.write(text);
  }

  #line(cells: string[]): string {
    const widths = this.#widths!;
    const parts = cells.map((cell, i) => {
      const width = widths[i] ?? cell.length;
      const kind = this.#fields[i]?.type.kind ?? 'text';
      return RIGHT_ALIGNED.has(kind) && !this.#fields[i]?.type.array
        ? cell.padStart(width)
        : cell.padEnd(width);
    });
    return ` ${parts.join(' | ')}\n`.replace(/ +\n$/, '\n');
  }
}

function center(text: string, width: number): string {
  const left = Math.floor((width - text.length) / 2);
  return ' '.repeat(Math.max(0, left)) + text + ' '.repeat(Math.max(0, width - text.length - left));
}

/** Makes control characters visible so that data cannot move the cursor or recolour a terminal. */
export function displayText(value: string): string {
  return /[\u0000-\u001f\u007f-\u009f]/.test(value)
    ? value.replace(/[\u0000-\u001f\u007f-\u009f]/g, escapeControl)
    : value;
}

function escapeControl(char: string): string {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
  }
}
