// psql's expanded display (\x): one block per row, a `-[ RECORD n ]` rule, then `column | value`
// lines. Rows stream: each record is sized on its own names and values.

import type { ResultWriter } from '../core/output/formats.js';
import { displayText } from '../core/output/formats.js';
import { type Sink, StringSink } from '../core/output/sink.js';
import type { Field, RawRow } from '../core/pgtypes.js';

export class ExpandedWriter implements ResultWriter {
  #fields: Field[] = [];
  #count = 0;
  #results = 0;

  constructor(private readonly sink: Sink) {}

  async startRaw(): Promise<void> {}

  async raw(data: Buffer): Promise<void> {
    await this.sink.write(data);
  }

  async start(fields: Field[]): Promise<void> {
    this.#fields = fields;
    this.#count = 0;
    if (this.#results++ > 0) await this.sink.write('\n');
  }

  async rows(rows: RawRow[]): Promise<void> {
    const nameWidth = Math.max(0, ...this.#fields.map((field) => field.name.length));
    let text = '';
    for (const row of rows) {
      this.#count += 1;
      const values = row.map((value) => (value === null ? '' : displayText(value)));
      const valueWidth = Math.max(0, ...values.map((value) => value.length));
      const head = `-[ RECORD ${this.#count} ]`;
      text += `${head}${'-'.repeat(Math.max(0, nameWidth + 3 + valueWidth - head.length))}\n`;
      this.#fields.forEach((field, index) => {
        text += `${field.name.padEnd(nameWidth)} | ${values[index] ?? ''}`.trimEnd() + '\n';
      });
    }
    await this.sink.write(text);
  }

  async end(command: string, rowCount: number | null, hadFields: boolean): Promise<void> {
    if (!hadFields) {
      await this.sink.write(`${command}${rowCount !== null && command !== 'SELECT' ? ` ${rowCount}` : ''}\n`);
    } else if (this.#count === 0) {
      await this.sink.write('(0 rows)\n');
    }
  }

  async finish(): Promise<void> {}
}

/**
 * `\x auto`: the table layout when the result fits the terminal's width, else expanded. The first
 * batch of rows decides (the table writer sizes its columns on the first screenful as well).
 */
export class AutoExpandedWriter implements ResultWriter {
  #chosen: ResultWriter | undefined;
  #fields: Field[] = [];

  constructor(
    private readonly sink: Sink,
    private readonly columns: number,
    private readonly table: (sink: Sink) => ResultWriter,
  ) {}

  async startRaw(): Promise<void> {}

  async raw(data: Buffer): Promise<void> {
    await this.sink.write(data);
  }

  async start(fields: Field[]): Promise<void> {
    this.#fields = fields;
    this.#chosen = undefined;
  }

  async rows(rows: RawRow[]): Promise<void> {
    if (!this.#chosen) {
      const probe = new StringSink();
      const writer = this.table(probe);
      await writer.start(this.#fields);
      await writer.rows(rows);
      await writer.end('SELECT', rows.length, true);
      const wide = probe
        .text()
        .split('\n')
        .some((line) => line.length > this.columns);
      this.#chosen = wide ? new ExpandedWriter(this.sink) : this.table(this.sink);
      await this.#chosen.start(this.#fields);
    }
    await this.#chosen.rows(rows);
  }

  async end(command: string, rowCount: number | null, hadFields: boolean): Promise<void> {
    if (!this.#chosen) {
      this.#chosen = this.table(this.sink);
      if (hadFields) await this.#chosen.start(this.#fields);
    }
    await this.#chosen.end(command, rowCount, hadFields);
  }

  async finish(): Promise<void> {}
}
