// Turns one statement's result section (base64, gzip inside when compressed) into the events the
// direct transport yields: the header becomes `fields` (names from the result, types from the
// description), records become `rows` in batches as they arrive, COPY data passes through as it
// is. It also counts what the command tag would have counted, since psql's ROW_COUNT after
// \gexec counts the generating query instead.

import { type ColumnType, type Field, type RawRow, typeFromName, typeFromOid } from '../../core/pgtypes.js';
import type { QueryEvent } from '../types.js';
import { Base64Decoder, CopyRowCounter, CsvParser, GunzipDecoder } from './decoders.js';
import type { StatementPlan } from './statement-plan.js';

/** How psql sent the result: base64 of CSV, gzip then base64, or the count of a column-less result. */
export type ResultEncoding = 'plain' | 'gzip' | 'count';

export interface ResultDescription {
  /** Type OIDs from pg_prepared_statements.result_types, or the plan's known types. */
  types?: number[];
  /** Types from psql's \gdesc (servers before 16). */
  described?: Field[];
}

const TEXT_OID = 25;
const ZERO_COLUMN_BATCH = 1000;

export class ResultDecoder {
  readonly #base64 = new Base64Decoder();
  readonly #gunzip: GunzipDecoder | undefined;
  readonly #csv: CsvParser | undefined;
  readonly #copyCounter: CopyRowCounter | undefined;
  readonly #nullMarker: Buffer;
  #columns: number | undefined;
  #rows: number | undefined;

  constructor(
    private readonly plan: StatementPlan,
    private readonly description: ResultDescription,
    private readonly encoding: ResultEncoding,
    nullMarker: Buffer,
  ) {
    this.#gunzip = encoding === 'gzip' ? new GunzipDecoder() : undefined;
    this.#csv = plan.kind === 'copy' ? undefined : new CsvParser();
    this.#copyCounter = plan.copyRows ? new CopyRowCounter(plan.copyRows.format) : undefined;
    this.#nullMarker = nullMarker;
  }

  async push(encoded: Buffer): Promise<QueryEvent[]> {
    const decoded = this.#base64.push(encoded);
    return this.#consume(this.#gunzip ? await this.#gunzip.push(decoded) : decoded);
  }

  /** What is left once the section is over; throws if it was cut short. */
  async end(): Promise<QueryEvent[]> {
    this.#base64.end();
    const events = this.#gunzip ? this.#consume(await this.#gunzip.end()) : [];
    if (this.#csv && !this.#csv.idle) throw new Error('a result row was cut short');
    return events;
  }

  /** The row count the command tag would carry (for COPY, counted in its data). */
  get rowCount(): number | null {
    if (this.plan.kind !== 'copy') return this.#rows ?? null;
    if (!this.#copyCounter) return null;
    return this.#copyCounter.count - (this.plan.copyRows?.header ? 1 : 0);
  }

  #consume(bytes: Buffer): QueryEvent[] {
    if (bytes.length === 0) return [];
    if (!this.#csv) {
      this.#copyCounter?.push(bytes);
      return [{ kind: 'copy', data: bytes }];
    }
    const events: QueryEvent[] = [];
    let rows: RawRow[] | undefined;
    for (const record of this.#csv.push(bytes)) {
      if (this.#columns === undefined) {
        const fields = this.encoding === 'count' ? [] : this.#fields(record);
        this.#columns = fields.length;
        this.#rows = 0;
        events.push({ kind: 'fields', fields });
      } else if (this.encoding === 'count') {
        // psql prints nothing for the rows of a result without columns; they were counted instead.
        const count = Number(record[0]?.toString('latin1'));
        this.#rows = count;
        for (let left = count; left > 0; left -= ZERO_COLUMN_BATCH) {
          const size = Math.min(left, ZERO_COLUMN_BATCH);
          events.push({ kind: 'rows', rows: Array.from({ length: size }, () => []) });
        }
      } else {
        rows ??= [];
        rows.push(record.map((value) => (value.equals(this.#nullMarker) ? null : value.toString('utf8'))));
      }
    }
    if (rows) {
      this.#rows = (this.#rows ?? 0) + rows.length;
      events.push({ kind: 'rows', rows });
    }
    return events;
  }

  #fields(header: Buffer[]): Field[] {
    // psql prints an empty header line for a result without columns.
    if (header.length === 1 && header[0]!.length === 0) return [];
    const { types, described } = this.description;
    return header.map((raw, index) => {
      const name = raw.toString('utf8');
      if (described?.length === header.length) return { name, type: described[index]!.type };
      return { name, type: typeFromOid(types?.length === header.length ? types[index]! : TEXT_OID) };
    });
  }
}

/** psql's \gdesc output (CSV: Column,Type) as fields. */
export function describedFields(records: Buffer[][]): Field[] {
  return records.slice(1).map(([name, type]) => ({
    name: name?.toString('utf8') ?? '',
    type: typeFromPrinted(type?.toString('utf8') ?? 'text'),
  }));
}

/** Type names the direct transport knows by OID; other names (enums, domains) are plain text there. */
let builtinNames: Set<string> | undefined;

/** A type name as format_type prints it, made what the direct transport sees for the same column. */
export function typeFromPrinted(printed: string): ColumnType {
  if (!builtinNames) {
    builtinNames = new Set();
    for (let oid = 1; oid < 6000; oid++) {
      const type = typeFromOid(oid);
      if (!type.name.startsWith('oid ')) builtinNames.add(type.name.replace(/\[\]$/, ''));
    }
  }
  const type = typeFromName(printed);
  const base = (type.array ? printed.slice(0, -2) : printed).replace(/\(.*\)/, '').trim();
  return builtinNames.has(base) ? type : { name: printed, kind: 'text', array: false };
}
