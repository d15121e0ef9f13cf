// psql's expanded display (\x): one block per row, a `-[ RECORD n ]` rule, then `column | value`
// lines. Rows stream: each record is sized on its own names and values.

import type { ResultWriter } from '../core/output/formats.js';
import { displayText } from '../core/output/formats.js';
import type { Sink } from '../core/output/sink.js';
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
