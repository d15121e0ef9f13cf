// `coderdb query`: arbitrary SQL, checked by the guard, run in a READ ONLY transaction, with each
// statement's rows streamed to a writer as they arrive. Writes go through the plan/apply path.

import { CoderdbError, refusedError } from '../core/errors.js';
import { layerOn } from '../core/layers.js';
import type { ResultWriter } from '../core/output/formats.js';
import type { Field } from '../core/pgtypes.js';
import { type AnalyzedStatement, analyze, enforce } from '../sql/guard.js';
import { locate } from '../sql/parser.js';
import { knownColumns, outputHasSecrets, type SecretFlow, type Segment } from '../sql/secret-flow.js';
import { isSecretColumn } from './coder/secrets.js';
import { type Context, Db, recordRefusal } from './db.js';
import { enforceFunctionCatalog } from './function-policy.js';
import {
  analyzeSecretFlow,
  placedRedaction,
  type Redaction,
  redactionFor,
  SHOW_SECRETS_HINT,
  scrubMessage,
  scrubStatementError,
} from './redaction.js';

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
  try {
    if (layerOn(context.disabledLayers, 'guard')) enforce(statements, { write: false });
    await writer.begin?.(statements.length);
    const db = await Db.begin(context, 'read');
    await checkFunctionCatalog(db, statements);
    await streamStatements(db, statements, writer, { ...options, sql });
  } catch (error) {
    // Whichever layer refused (guard, function catalog, redaction), the refusal is audited.
    const statement = statements.map((entry) => entry.auditText).join(';\n');
    recordRefusal(context, { command: options.command ?? 'query', statement }, error);
    throw error;
  }
  await writer.finish();
}

/** The function-catalog layer: the live catalog judges every function the statements can reach. */
async function checkFunctionCatalog(db: Db, statements: AnalyzedStatement[]): Promise<void> {
  if (!layerOn(db.context.disabledLayers, 'function-catalog')) return;
  try {
    await enforceFunctionCatalog(db, statements);
  } catch (error) {
    await db.close();
    throw error;
  }
}

/** Runs checked statements in an open read session, one after the other, and closes it. */
async function streamStatements(
  db: Db,
  statements: AnalyzedStatement[],
  writer: ResultWriter,
  options: ReadOptions & { sql: string },
): Promise<void> {
  // Cursors DECLAREd by earlier statements of the run, with the columns their FETCHes return.
  const cursors = new Map<string, Segment[]>();
  try {
    for (const [index, statement] of statements.entries()) {
      try {
        const last = index === statements.length - 1;
        await streamOne(db, statement, writer, { ...options, cursors, last });
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
  options: ReadOptions & { cursors: Map<string, Segment[]>; last: boolean },
): Promise<void> {
  let fields: Field[] | undefined;
  let redaction: Redaction | undefined;
  const flow = options.showSecrets ? undefined : await analyzeSecretFlow(db, statement, options.cursors);
  if (flow?.refusal) {
    throw refusedError('redaction.unprovable', `refused ${statement.command}: ${flow.refusal}`, {
      hint: `${SHOW_SECRETS_HINT}; nothing was sent to the database`,
    });
  }
  if (flow?.declares) options.cursors.set(flow.declares.name, flow.declares.output);
  // Server messages may quote values the statement read; they are scrubbed before anything, the
  // audit log included, sees them.
  const scrub = flow?.readsSecrets ? (text: string) => scrubMessage(text, statement.text) : undefined;
  const audit = {
    command: options.command ?? 'query',
    statement: statement.auditText,
    ...(flow?.readsSecrets
      ? { scrubError: (error: unknown) => scrubStatementError(error, statement.text) }
      : {}),
  };
  const copy = await serverSideCsv(db, statement, writer, options, flow);
  if (copy) await writer.startRaw();
  // The last statement's ROLLBACK travels with it (one round trip where the transport can).
  for await (const event of db.stream(copy ?? statement.text, audit, { last: options.last })) {
    switch (event.kind) {
      case 'fields':
        fields = event.fields;
        redaction = options.showSecrets ? undefined : placedRedaction(fields, flow?.output);
        await writer.start(redaction?.fields ?? fields);
        break;
      case 'rows':
        await writer.rows(redaction ? redaction.rows(event.rows) : event.rows);
        break;
      case 'done':
        // A result without columns is still a result (`select from t`), unlike a command's.
        await writer.end(event.command, event.rowCount, fields !== undefined);
        break;
      case 'copy':
        await writer.raw(event.data);
        break;
      case 'notice':
        process.stderr.write(`${event.severity}: ${scrub ? scrub(event.message) : event.message}\n`);
        break;
    }
  }
}

/**
 * For CSV output of a query, the server can format the rows itself (COPY … TO STDOUT), which is
 * several times faster than parsing and re-formatting every value here. Results that may have
 * credential columns keep the redacting path: the analysis places them, and where a `*` of unknown
 * width hides names, a zero-row probe reads them.
 */
async function serverSideCsv(
  db: Db,
  statement: AnalyzedStatement,
  writer: ResultWriter,
  options: ReadOptions,
  flow: SecretFlow | undefined,
): Promise<string | undefined> {
  if (writer.copyFormat !== 'csv' || !db.copyOut || statement.type !== 'SelectStmt') return undefined;
  if (!options.showSecrets) {
    if (!flow?.output || outputHasSecrets(flow.output)) return undefined;
    const names = knownColumns(flow.output)?.map((column) => column.name);
    if (names?.some(isSecretColumn) || (names?.includes('key') && names.includes('value'))) return undefined;
    if (!names && (await probeHasSecrets(db, statement))) return undefined;
  }
  return `COPY (${statement.text}\n) TO STDOUT WITH (FORMAT csv, HEADER)`;
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
    return redactionFor(probe.fields) !== undefined;
  } catch {
    await db.run('ROLLBACK TO SAVEPOINT coderdb_probe').catch(() => undefined);
    return true;
  }
}
