// `coderdb query`: arbitrary SQL, checked by the guard, run in a READ ONLY transaction, with each
// statement's rows streamed to a writer as they arrive. Writes go through the plan/apply path.

import { CoderdbError } from '../core/errors.js';
import type { ResultWriter } from '../core/output/formats.js';
import type { Field, RawRow } from '../core/pgtypes.js';
import { type AnalyzedStatement, analyze, enforce, possibleOutputNames } from '../sql/guard.js';
import { quoteLiteral, quoteQualified } from '../sql/literal.js';
import { locate } from '../sql/parser.js';
import { hasWholeRowReference, referencedRelations, secretDerivedNames } from '../sql/secret-flow.js';
import { isSecretColumn, isSecretSetting, KEY_VALUE_TABLE, REDACTED_VALUE } from './coder/secrets.js';
import { type Context, Db } from './db.js';

export interface ReadOptions {
  /** Print values of credential columns (password hashes, tokens) instead of redacting them. */
  showSecrets?: boolean;
  /** Audit label; `query` by default. */
  command?: string;
}

/** Runs read-only SQL, streaming each statement's result into `writer`. */
export async function runReadQuery(
  context: Context,
  sql: string,
  writer: ResultWriter,
  options: ReadOptions = {},
): Promise<void> {
  await runAnalyzedRead(context, sql, await analyze(sql), writer, options);
}

/** The same, for SQL the caller has already analyzed; refuses anything that is not a read. */
export async function runAnalyzedRead(
  context: Context,
  sql: string,
  statements: AnalyzedStatement[],
  writer: ResultWriter,
  options: ReadOptions = {},
): Promise<void> {
  enforce(statements, { write: false });
  await streamStatements(await Db.begin(context, 'read'), statements, writer, { ...options, sql });
  await writer.finish();
}

/** Runs checked statements in an open read session, one after the other, and closes it. */
async function streamStatements(
  db: Db,
  statements: AnalyzedStatement[],
  writer: ResultWriter,
  options: ReadOptions & { sql: string },
): Promise<void> {
  try {
    for (const statement of statements) {
      try {
        await streamOne(db, statement, writer, options);
      } catch (error) {
        throw withStatementPosition(error, statement, options.sql);
      }
    }
  } finally {
    await db.close();
  }
}

async function streamOne(
  db: Db,
  statement: AnalyzedStatement,
  writer: ResultWriter,
  options: ReadOptions,
): Promise<void> {
  let fields: Field[] = [];
  let masked: number[] = [];
  let settings: KeyValueColumns | undefined;
  const audit = { command: options.command ?? 'query', statement: statement.auditText };
  const derived = options.showSecrets ? new Set<string>() : await derivedSecretNames(db, statement);
  const copy = derived.size ? undefined : await serverSideCsv(db, statement, writer, options);
  if (copy) await writer.startRaw();
  for await (const event of db.stream(copy ?? statement.text, audit)) {
    switch (event.kind) {
      case 'fields':
        fields = event.fields;
        settings = options.showSecrets ? undefined : keyValueColumns(fields);
        // With the key beside it, a value is redacted only in the rows whose key names a secret.
        masked = options.showSecrets
          ? []
          : secretIndexes(fields, derived).filter((index) => index !== settings?.value);
        await writer.start(redactFields(fields, masked));
        break;
      case 'rows': {
        let rows = masked.length ? event.rows.map((row) => redactRow(row, masked)) : event.rows;
        if (settings) rows = rows.map((row) => redactSetting(row, settings!));
        await writer.rows(rows);
        break;
      }
      case 'done':
        await writer.end(event.command, event.rowCount, fields.length > 0);
        break;
      case 'copy':
        await writer.raw(event.data);
        break;
      case 'notice':
        process.stderr.write(`${event.severity}: ${event.message}\n`);
        break;
    }
  }
}

/**
 * For CSV output of a query, the server can format the rows itself (COPY … TO STDOUT), which is
 * several times faster than parsing and re-formatting every value here. Results that may have
 * credential columns keep the redacting path: the names are read from the parse tree, or, behind a
 * `*`, from a zero-row probe.
 */
async function serverSideCsv(
  db: Db,
  statement: AnalyzedStatement,
  writer: ResultWriter,
  options: ReadOptions,
): Promise<string | undefined> {
  if (writer.copyFormat !== 'csv' || !db.copyOut || statement.type !== 'SelectStmt') return undefined;
  if (!options.showSecrets) {
    const names = possibleOutputNames(statement);
    if (names?.some(isSecretColumn) || (names?.includes('key') && names.includes('value'))) return undefined;
    if (!names && (await probeHasSecrets(db, statement))) return undefined;
  }
  return `COPY (${statement.text}\n) TO STDOUT WITH (FORMAT csv, HEADER)`;
}

/** The result columns to redact: credential columns, and names `derived` says carry one. */
export function secretIndexes(fields: Field[], derived: ReadonlySet<string> = new Set()): number[] {
  return fields.flatMap((field, index) =>
    isSecretColumn(field.name) || derived.has(field.name) ? [index] : [],
  );
}

/**
 * Result names that carry a credential under another name (see sql/secret-flow.ts). Whole rows
 * count when a relation the statement reads has a credential column, which takes one catalog
 * query, only for statements that use whole rows at all.
 */
async function derivedSecretNames(db: Db, statement: AnalyzedStatement): Promise<Set<string>> {
  const tree = statement.node;
  const relations = referencedRelations(tree);
  // A value read from site_configs without its key beside it may be a signing key.
  const readsSettings = relations.some((relation) => relation.name === KEY_VALUE_TABLE);
  const isSecret = (name: string) => isSecretColumn(name) || (readsSettings && name === 'value');
  let wholeRowsAreSecret = false;
  if (hasWholeRowReference(tree)) {
    const names = relations.map((relation) => quoteLiteral(quoteQualified(relation.schema, relation.name)));
    if (names.length > 0) {
      const columns = await db.all(
        `SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid IN (SELECT pg_catalog.to_regclass(n) FROM unnest(ARRAY[${names.join(', ')}]::text[]) AS n) AND a.attnum > 0 AND NOT a.attisdropped`,
      );
      wholeRowsAreSecret = readsSettings || columns.rows.some((row) => isSecretColumn(String(row[0])));
    }
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

function redactSetting(row: RawRow, columns: KeyValueColumns): RawRow {
  const key = row[columns.key];
  if (key === null || key === undefined || row[columns.value] === null || !isSecretSetting(key)) return row;
  return redactRow(row, [columns.value]);
}

/** A redacted column holds text, whatever its type was (a json column cannot hold "[redacted]"). */
export function redactFields(fields: Field[], indexes: number[]): Field[] {
  if (indexes.length === 0) return fields;
  return fields.map((field, index) =>
    indexes.includes(index)
      ? { name: field.name, type: { name: 'text', kind: 'text', array: false } }
      : field,
  );
}

export function redactRow(row: RawRow, indexes: number[]): RawRow {
  const copy = row.slice();
  for (const index of indexes) if (copy[index] !== null) copy[index] = REDACTED_VALUE;
  return copy;
}

/** Adds the line/column and a caret excerpt of the whole input to a server error's position. */
export function withStatementPosition(error: unknown, statement: AnalyzedStatement, sql: string): unknown {
  if (!(error instanceof CoderdbError) || error.position === undefined || error.detail?.includes('^'))
    return error;
  const where = locate(sql, statement.offset + error.position);
  if (!where) return error;
  return new CoderdbError(error.kind, error.code, `${error.message} at ${where.label}`, {
    sqlState: error.sqlState,
    position: statement.offset + error.position,
    detail: [error.detail, where.excerpt].filter(Boolean).join('\n'),
    hint: error.hint,
    cause: error,
  });
}

/** Runs the query for zero rows to learn its column names; true when one is a credential. */
async function probeHasSecrets(db: Db, statement: AnalyzedStatement): Promise<boolean> {
  try {
    await db.run('SAVEPOINT coderdb_probe');
    const probe = await db.all(`SELECT * FROM (${statement.text}\n) AS coderdb_probe LIMIT 0`);
    await db.run('RELEASE SAVEPOINT coderdb_probe');
    return secretIndexes(probe.fields).length > 0 || keyValueColumns(probe.fields) !== undefined;
  } catch {
    await db.run('ROLLBACK TO SAVEPOINT coderdb_probe').catch(() => undefined);
    return true;
  }
}
