// Values go into SQL as literals, quoted here, because the exec transport drives psql and has no
// parameter protocol. Quoting follows PostgreSQL's quote_literal/quote_ident with
// standard_conforming_strings on (the default since 9.1): a backslash needs an E'' string.

export type SqlValue = string | number | boolean | null | Date | readonly SqlValue[];

export function quoteLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot write ${value} as an SQL literal`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return `'${value.toISOString()}'::timestamptz`;
  if (Array.isArray(value)) return `ARRAY[${value.map(quoteLiteral).join(', ')}]`;
  const text = String(value);
  if (text.includes('\0')) throw new TypeError('SQL text cannot contain a NUL byte');
  const body = text.replace(/'/g, "''");
  return text.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) && !RESERVED.has(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** schema.table, each part quoted when needed. */
export function quoteQualified(schema: string | undefined, name: string): string {
  return schema ? `${quoteIdent(schema)}.${quoteIdent(name)}` : quoteIdent(name);
}

/**
 * A tagged template that quotes interpolated values as literals:
 * sql`SELECT * FROM templates WHERE id = ${id}`. Use `ident()` for identifiers and `raw()` for
 * trusted SQL fragments.
 */
export function sql(strings: TemplateStringsArray, ...values: (SqlValue | Fragment)[]): string {
  let text = strings[0]!;
  values.forEach((value, index) => {
    text += (value instanceof Fragment ? value.text : quoteLiteral(value)) + strings[index + 1]!;
  });
  return text;
}

export class Fragment {
  constructor(readonly text: string) {}
}

export const ident = (name: string) => new Fragment(quoteIdent(name));
export const raw = (text: string) => new Fragment(text);

// Reserved keywords that cannot be bare identifiers (PostgreSQL's RESERVED_KEYWORD list, plus
// the type/function names that need quoting as column names).
const RESERVED = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization binary both case cast check collate ' +
    'collation column concurrently constraint create cross current_catalog current_date current_role ' +
    'current_schema current_time current_timestamp current_user default deferrable desc distinct do else ' +
    'end except false fetch for foreign freeze from full grant group having ilike in initially inner ' +
    'intersect into is isnull join lateral leading left like limit localtime localtimestamp natural not ' +
    'notnull null offset on only or order outer overlaps placing primary references returning right select ' +
    'session_user similar some symmetric system_user table tablesample then to trailing true union unique ' +
    'user using variadic verbose when where window with'
  ).split(' '),
);
