// What of a result is hidden before it is printed: credential columns by name, the names the
// statement gives credentials (sql/secret-flow.ts), and the values of site_configs rows whose key
// names a secret. A redacted column becomes text, whatever its type was (a json column cannot hold
// "[redacted]").

import type { Field, RawRow } from '../core/pgtypes.js';
import type { AnalyzedStatement } from '../sql/guard.js';
import { quoteLiteral, quoteQualified } from '../sql/literal.js';
import { hasWholeRowReference, referencedRelations, secretDerivedNames } from '../sql/secret-flow.js';
import { isSecretColumn, isSecretSetting, KEY_VALUE_TABLE, REDACTED_VALUE } from './coder/secrets.js';
import type { Db } from './db.js';

const TEXT = { name: 'text', kind: 'text', array: false } as const;

export interface Redaction {
  /** The fields to announce: redacted columns typed text. */
  fields: Field[];
  rows(rows: RawRow[]): RawRow[];
}

/** How to redact a result with these fields; undefined when nothing in it needs hiding. */
export function redactionFor(
  fields: Field[],
  derived: ReadonlySet<string> = new Set(),
): Redaction | undefined {
  const settings = keyValueColumns(fields);
  // With the key beside it, a value is redacted only in the rows whose key names a secret.
  const columns = fields.flatMap((field, index) =>
    (isSecretColumn(field.name) || derived.has(field.name)) && index !== settings?.value ? [index] : [],
  );
  if (columns.length === 0 && !settings) return undefined;
  const redacted = settings ? [...columns, settings.value] : columns;
  return {
    fields: fields.map((field, index) =>
      redacted.includes(index) ? { name: field.name, type: TEXT } : field,
    ),
    rows: (rows) =>
      rows.map((row) => {
        const hide =
          settings && isSecretSetting(row[settings.key] ?? '') ? [...columns, settings.value] : columns;
        if (hide.length === 0) return row;
        const copy = row.slice();
        for (const index of hide) if (copy[index] !== null) copy[index] = REDACTED_VALUE;
        return copy;
      }),
  };
}

/**
 * Result names that carry a credential under another name. Whole rows count when a relation the
 * statement reads has a credential column, which takes one catalog query, only for statements
 * that use whole rows at all; a site_configs value read without its key may be a signing key.
 */
export async function derivedSecretNames(db: Db, statement: AnalyzedStatement): Promise<Set<string>> {
  const tree = statement.node;
  const relations = referencedRelations(tree);
  const readsSettings = relations.some((relation) => relation.name === KEY_VALUE_TABLE);
  const isSecret = (name: string) => isSecretColumn(name) || (readsSettings && name === 'value');
  let wholeRowsAreSecret = readsSettings;
  if (!wholeRowsAreSecret && relations.length > 0 && hasWholeRowReference(tree)) {
    const names = relations.map((relation) => quoteLiteral(quoteQualified(relation.schema, relation.name)));
    const columns = await db.all(
      `SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid IN (SELECT pg_catalog.to_regclass(n) FROM unnest(ARRAY[${names.join(', ')}]::text[]) AS n) AND a.attnum > 0 AND NOT a.attisdropped`,
    );
    wholeRowsAreSecret = columns.rows.some((row) => isSecretColumn(String(row[0])));
  }
  return secretDerivedNames(tree, isSecret, wholeRowsAreSecret);
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
