// Result writers for --format table|json|csv|ndjson. Each consumes the transport's events for one
// statement at a time and writes as rows arrive; only the table format holds rows back, and only
// the first screenful, to size its columns. CSV is byte for byte what `psql --csv -q` prints. Every
// writer counts what it wrote and refuses to end a statement whose command tag counted other rows:
// a result that did not arrive whole is an error, never a short file.

import { CoderdbError } from '../errors.js';
import type { Field, RawRow } from '../pgtypes.js';
import { toJsonValue } from '../pgtypes.js';
import { CopyCsvToPsql } from './copy-csv.js';
import type { Sink } from './sink.js';

export const FORMATS = ['table', 'json', 'csv', 'ndjson'] as const;
export type Format = (typeof FORMATS)[number];

export interface ResultWriter {
  /** Set when the server can produce this format itself (COPY … TO STDOUT WITH (FORMAT csv)). */
  readonly copyFormat?: 'csv';
  /** Before the first statement: how many statements follow (json and ndjson say which is which). */
  begin?(statements: number): Promise<void>;
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

/** Command tags whose count is the number of rows the result carried. */
const COUNTED_COMMANDS = new Set(['SELECT', 'FETCH', 'COPY']);

/** The error for a result that did not arrive whole; one line, exit status 3. */
export function incompleteResult(received: number, expected: number): CoderdbError {
  return new CoderdbError(
    'connection',
    'result.incomplete',
    `the result was not delivered whole: ${received} of ${expected} rows arrived; the output is incomplete`,
    { hint: 'run the command again' },
  );
}

/**
 * What every writer does the same way: COPY data passes through, statements are numbered, and the
 * rows written are checked against the command tag's count at the end of each statement.
 */
abstract class WriterBase implements ResultWriter {
  /** Statements in the input; more than one changes the json and ndjson shapes. */
  protected statements = 1;
  /** 1-based number of the statement being written. */
  protected statement = 0;
  #written = 0;

  constructor(protected readonly sink: Sink) {}

  async begin(statements: number): Promise<void> {
    this.statements = statements;
  }

  async start(fields: Field[]): Promise<void> {
    this.#written = 0;
    await this.startResult(fields);
  }

  async rows(rows: RawRow[]): Promise<void> {
    this.#written += rows.length;
    await this.writeRows(rows);
  }

  protected abstract startResult(fields: Field[]): Promise<void>;
  protected abstract writeRows(rows: RawRow[]): Promise<void>;

  async startRaw(): Promise<void> {}

  async raw(data: Buffer): Promise<void> {
    await this.sink.write(data);
  }

  async end(command: string, rowCount: number | null, hadFields: boolean): Promise<void> {
    if (hadFields && rowCount !== null && COUNTED_COMMANDS.has(command) && rowCount !== this.#written) {
      throw incompleteResult(this.#written, rowCount);
    }
    await this.endResult(command, rowCount, hadFields);
    this.statement += 1;
  }

  /** Called once a statement's rows are known to be complete. */
  protected async endResult(_command: string, _rowCount: number | null, _hadFields: boolean): Promise<void> {}

  async finish(): Promise<void> {}
}

// ---- csv: like `psql --csv -q` (header, RFC 4180 quoting, NULL and '' as an empty field) ----

class CsvWriter extends WriterBase {
  readonly copyFormat = 'csv';
  /** The COPY data of the current statement, made what psql prints. */
  #copy: CopyCsvToPsql | undefined;

  /** Results of several statements follow one another, as psql prints them. */
  protected async startResult(fields: Field[]): Promise<void> {
    this.#copy = undefined;
    await this.sink.write(`${fields.map((field) => csvField(field.name)).join(',')}\n`);
  }

  override async startRaw(): Promise<void> {
    this.#copy = new CopyCsvToPsql();
  }

  /** A statement that is itself COPY … TO STDOUT prints its data as it comes, as psql --csv does. */
  override async raw(data: Buffer): Promise<void> {
    await this.sink.write(this.#copy ? this.#copy.push(data) : data);
  }

  override async end(command: string, rowCount: number | null, hadFields: boolean): Promise<void> {
    const copy = this.#copy;
    if (!copy) return super.end(command, rowCount, hadFields);
    this.#copy = undefined;
    copy.end();
    // The header is one of the records COPY sent; the tag counts the rows.
    const rows = Math.max(0, copy.records - 1);
    if (rowCount !== null && rows !== rowCount) throw incompleteResult(rows, rowCount);
    if (copy.records === 0) throw incompleteResult(0, rowCount ?? 0);
    this.statement += 1;
  }

  protected async writeRows(rows: RawRow[]): Promise<void> {
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

// ---- json: one document. One statement: an array of row objects. Several: an array with one
// object per statement, {"statement": n, "rows": [...], "command": "SELECT", "rowCount": n}
// ("rows" only for a statement that returns rows). ----

class JsonWriter extends WriterBase {
  #fields: Field[] = [];
  #first = true;
  /** Several statements: whether one was written already. */
  #wroteStatement = false;

  protected async startResult(fields: Field[]): Promise<void> {
    this.#fields = fields;
    this.#first = true;
    await this.sink.write(this.statements > 1 ? `${this.#opening()}, "rows": [` : '[');
  }

  protected async writeRows(rows: RawRow[]): Promise<void> {
    const indent = this.statements > 1 ? '    ' : '  ';
    let text = '';
    for (const row of rows) {
      text += `${this.#first ? '\n' : ',\n'}${indent}${JSON.stringify(rowObject(this.#fields, row))}`;
      this.#first = false;
    }
    await this.sink.write(text);
  }

  protected override async endResult(
    command: string,
    rowCount: number | null,
    hadFields: boolean,
  ): Promise<void> {
    if (this.statements <= 1) {
      if (hadFields) await this.sink.write(this.#first ? ']\n' : '\n]\n');
      return;
    }
    const tail = `"command": ${JSON.stringify(command)}, "rowCount": ${JSON.stringify(rowCount)}}`;
    if (hadFields) await this.sink.write(`${this.#first ? '' : '\n  '}], ${tail}`);
    else await this.sink.write(`${this.#opening()}, ${tail}`);
  }

  /** `{"statement": n` for the statement being written, after a comma when it is not the first. */
  #opening(): string {
    // The document opens with its first statement: nothing is written before the database answers.
    const separator = this.#wroteStatement ? ',\n  ' : '[\n  ';
    this.#wroteStatement = true;
    return `${separator}{"statement": ${this.statement + 1}`;
  }

  override async finish(): Promise<void> {
    if (this.statements > 1) await this.sink.write(this.#wroteStatement ? '\n]\n' : '[]\n');
  }
}

// ---- ndjson: one object per line, all statements; with several, {"statement": n, "row": {...}} ----

class NdjsonWriter extends WriterBase {
  #fields: Field[] = [];

  protected async startResult(fields: Field[]): Promise<void> {
    this.#fields = fields;
  }

  protected async writeRows(rows: RawRow[]): Promise<void> {
    let text = '';
    const several = this.statements > 1;
    const prefix = `{"statement":${this.statement + 1},"row":`;
    for (const row of rows) {
      const object = JSON.stringify(rowObject(this.#fields, row));
      text += several ? `${prefix}${object}}\n` : `${object}\n`;
    }
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

  protected async startResult(fields: Field[]): Promise<void> {
    this.#fields = fields;
    this.#pending = [];
    this.#widths = undefined;
    this.#count = 0;
    if (this.#results++ > 0) await this.sink.write('\n');
  }

  protected async writeRows(rows: RawRow[]): Promise<void> {
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

  protected override async endResult(
    command: string,
    rowCount: number | null,
    hadFields: boolean,
  ): Promise<void> {
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
