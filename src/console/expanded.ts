// psql's expanded display (\x): one block per row, a `-[ RECORD n ]` rule, then `column | value`
// lines, byte for byte what psql prints (border 1) for the rows of one batch: psql sizes the rule
// on the widest name and value of the whole result, so a result that arrives as one batch (every
// list command's) matches it exactly; the console's streamed batches are each sized on their own.

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
    if (rows.length === 0) return;
    const names = this.#fields.map((field) => displayText(field.name));
    const cells = rows.map((row) => row.map((value) => (value === null ? '' : displayText(value))));
    const nameWidth = Math.max(0, ...names.map((name) => name.length));
    const valueWidth = Math.max(0, ...cells.flatMap((values) => values.map((value) => value.length)));
    let text = '';
    for (const values of cells) {
      this.#count += 1;
      text += `${recordRule(this.#count, nameWidth, valueWidth)}\n`;
      names.forEach((name, index) => {
        // psql pads the name and keeps the space after `|`, also before an empty value.
        text += `${name.padEnd(nameWidth)} | ${values[index] ?? ''}\n`;
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
 * psql's record header: a rule as wide as `name | value`, with `+` under the `|` unless the
 * `-[ RECORD n ]` label already covers that position.
 */
function recordRule(record: number, nameWidth: number, valueWidth: number): string {
  const label = `-[ RECORD ${record} ]`;
  const cross = nameWidth + 1;
  if (label.length > cross) return label + '-'.repeat(Math.max(0, nameWidth + 3 + valueWidth - label.length));
  return `${label}${'-'.repeat(cross - label.length)}+${'-'.repeat(valueWidth + 1)}`;
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
