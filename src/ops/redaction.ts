// What of a result is hidden before it is printed: the columns that sql/secret-flow.ts places
// credentials in (by position), columns named like credentials, and the values of key/value rows
// (site_configs, pg_stats) whose key names a secret. A redacted column becomes text, whatever its
// type was (a json column cannot hold "[redacted]"). Server messages about a statement that reads
// credentials are scrubbed of the values they quote.

import { CoderdbError, refusedError } from '../core/errors.js';
import type { Field, RawRow } from '../core/pgtypes.js';
import type { AnalyzedStatement } from '../sql/guard.js';
import { quoteLiteral, quoteQualified } from '../sql/literal.js';
import {
  type FlowColumn,
  placeColumns,
  type RelationName,
  relationKey,
  type SecretFlow,
  type Segment,
  secretFlow,
} from '../sql/secret-flow.js';
import { isSecretColumn, isSecretSetting, REDACTED_VALUE } from './coder/secrets.js';
import type { Db } from './db.js';

const TEXT = { name: 'text', kind: 'text', array: false } as const;

export const SHOW_SECRETS_HINT =
  'name the columns you need (credential columns print as [redacted]), or add --show-secrets to print credentials';

export interface Redaction {
  /** The fields to announce: redacted columns typed text. */
  fields: Field[];
  rows(rows: RawRow[]): RawRow[];
}

/** A column to hide: always, or in the rows whose `key` column names a secret. */
interface Rule {
  index: number;
  key?: { index: number; test: (value: string) => boolean };
}

/**
 * How to redact a result with these fields; undefined when nothing in it needs hiding. `placed`
 * says, column by column, what the statement's analysis found (see placeColumns); without it, the
 * names alone decide.
 */
export function redactionFor(fields: Field[], placed?: readonly FlowColumn[]): Redaction | undefined {
  const rules: Rule[] = [];
  const settings = keyValueColumns(fields);
  fields.forEach((field, index) => {
    const column = placed?.[index];
    if (column?.secret || (isSecretColumn(field.name) && index !== settings?.value)) {
      rules.push({ index });
    } else if (column?.keyedBy) {
      const origin = column.origin;
      const key = placed!.findIndex(
        (other) => origin && other.origin?.source === origin.source && other.origin.column === column.keyedBy,
      );
      const test = column.keyedBy === 'key' ? isSecretSetting : isSecretColumn;
      rules.push(key >= 0 && !placed![key]!.secret ? { index, key: { index: key, test } } : { index });
    } else if (index === settings?.value) {
      // A result with key and value beside each other, like site_configs' rows.
      rules.push({ index, key: { index: settings.key, test: isSecretSetting } });
    }
  });
  if (rules.length === 0) return undefined;
  const redacted = new Set(rules.map((rule) => rule.index));
  return {
    fields: fields.map((field, index) => (redacted.has(index) ? { name: field.name, type: TEXT } : field)),
    rows: (rows) =>
      rows.map((row) => {
        const copy = row.slice();
        for (const rule of rules) {
          if (copy[rule.index] === null || copy[rule.index] === undefined) continue;
          if (rule.key && !rule.key.test(row[rule.key.index] ?? '')) continue;
          copy[rule.index] = REDACTED_VALUE;
        }
        return copy;
      }),
  };
}

/**
 * The redaction of a statement's result by position; refuses when the result does not have the
 * columns the analysis found (nothing has been printed yet).
 */
export function placedRedaction(fields: Field[], output: Segment[] | undefined): Redaction | undefined {
  if (!output) return redactionFor(fields);
  const placed = placeColumns(output, fields.length);
  if (!placed) {
    throw refusedError(
      'redaction.unprovable',
      `refused: the result has ${fields.length} columns where coderdb expected another number, so it cannot tell which ones hold credentials`,
      { hint: SHOW_SECRETS_HINT },
    );
  }
  return redactionFor(fields, placed);
}

/**
 * Where the statement puts credentials. Column lists are read from the catalog (one query) only
 * when the analysis needs them: behind `*`, whole rows and column-alias lists.
 */
export async function analyzeSecretFlow(
  db: Db,
  statement: AnalyzedStatement,
  cursors: ReadonlyMap<string, Segment[]> = new Map(),
): Promise<SecretFlow> {
  const first = secretFlow(statement.type, statement.node, { columnsOf: () => undefined, cursors });
  if (first.needed.length === 0) return first;
  const catalog = await columnLists(db, first.needed);
  return secretFlow(statement.type, statement.node, {
    columnsOf: (relation) => catalog.get(relationKey(relation)) ?? [],
    cursors,
  });
}

/** Ordered column names of relations, resolved as the statement would (search_path included). */
async function columnLists(db: Db, relations: RelationName[]): Promise<Map<string, string[]>> {
  const names = relations.map((relation) => quoteLiteral(quoteQualified(relation.schema, relation.name)));
  const result = await db.all(
    `SELECT r.i, a.attname FROM unnest(ARRAY[${names.join(', ')}]::text[]) WITH ORDINALITY AS r(n, i) JOIN pg_catalog.pg_attribute a ON a.attrelid = pg_catalog.to_regclass(r.n) WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY r.i, a.attnum`,
  );
  const lists = new Map<string, string[]>();
  for (const row of result.rows) {
    const relation = relations[Number(row[0]) - 1];
    if (!relation) continue;
    const key = relationKey(relation);
    const list = lists.get(key) ?? [];
    list.push(String(row[1]));
    lists.set(key, list);
  }
  return lists;
}

/**
 * A server message about a statement that reads credentials, without the values it may quote:
 * PostgreSQL puts the values it complains about in double quotes (`invalid input syntax for type
 * integer: "…"`), in parentheses (`Key (token)=(…)`, `Failing row contains (…)`), in single quotes,
 * or as bytes (`0xe2 0x80`). Each such part that does not occur in the statement's own text is
 * replaced; what the user typed (a column name, a literal) stays, so the message stays useful.
 */
export function scrubMessage(text: string, sql: string): string {
  const keep = (inside: string) => inside.length > 0 && sql.includes(inside);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    const close = char === '"' ? '"' : char === "'" ? "'" : char === '(' ? ')' : undefined;
    if (close) {
      const end = closing(text, i, char, close);
      if (end > i) {
        const inside = text.slice(i + 1, end);
        out += keep(inside) ? text.slice(i, end + 1) : `${char}${REDACTED_VALUE}${close}`;
        i = end + 1;
        continue;
      }
    }
    out += char;
    i += 1;
  }
  return out.replace(/0x[0-9a-f]{2}(\s+0x[0-9a-f]{2})*/gi, (bytes) =>
    sql.includes(bytes) ? bytes : REDACTED_VALUE,
  );
}

/** Index of the quote or parenthesis that closes the one at `start`, or -1. */
function closing(text: string, start: number, open: string, close: string): number {
  let depth = 0;
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i]!;
    if (open === close) {
      if (char === close) {
        if (text[i + 1] === close) i += 1;
        else return i;
      }
    } else if (char === open) depth += 1;
    else if (char === close) {
      if (depth === 0) return i;
      depth -= 1;
    }
  }
  return -1;
}

/** A server error about the statement, scrubbed (see scrubMessage); other errors as they are. */
export function scrubStatementError(error: unknown, sql: string): unknown {
  if (!(error instanceof CoderdbError) || error.kind !== 'sql') return error;
  const scrub = (text: string | undefined) => (text === undefined ? undefined : scrubMessage(text, sql));
  // The original is not kept as the cause: CODERDB_DEBUG would print it.
  return new CoderdbError(error.kind, error.code, scrub(error.message)!, {
    ...(error.sqlState ? { sqlState: error.sqlState } : {}),
    ...(error.position !== undefined ? { position: error.position } : {}),
    ...(error.detail ? { detail: scrub(error.detail) } : {}),
    ...(error.hint ? { hint: scrub(error.hint) } : {}),
  });
}

/**
 * A failure of a statement planned or applied as a write, scrubbed when the statement reads
 * credentials (decided from its text alone: no catalog query on a failure path).
 */
export function scrubWriteError(error: unknown, statement: AnalyzedStatement): unknown {
  const { readsSecrets } = secretFlow(statement.type, statement.node, { columnsOf: () => undefined });
  return readsSecrets ? scrubStatementError(error, statement.text) : error;
}

interface KeyValueColumns {
  key: number;
  value: number;
}

/** A result with text `key` and `value` columns, like site_configs' rows. */
function keyValueColumns(fields: Field[]): KeyValueColumns | undefined {
  const key = fields.findIndex((field) => field.name === 'key');
  const value = fields.findIndex((field) => field.name === 'value');
  if (key < 0 || value < 0 || fields[value]!.type.kind !== 'text') return undefined;
  return { key, value };
}
