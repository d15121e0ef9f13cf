// What planning a write must never do. A plan runs the statements for real in a transaction that is
// rolled back, so anything a rollback does not undo would happen on a mere --dry-run: a sequence
// advance, a terminated session, a file written on the server, SQL run over dblink, a session lock.
// Such statements are refused before they run, from the functions they can reach: those they call
// and those the column defaults they fill in call (a serial column's nextval). A sequence advance
// hidden in a trigger cannot be seen beforehand; `sessionAdvancedSequence` notices it afterwards.

import { refusedError } from '../../core/errors.js';
import { SURVIVES_ROLLBACK, WRITING_FUNCTIONS } from '../../sql/function-effects.js';
import { reachableNames } from '../../sql/functions.js';
import type { AnalyzedStatement } from '../../sql/guard.js';
import { quoteLiteral } from '../../sql/literal.js';
import { parseStatements } from '../../sql/parser.js';
import { walk } from '../../sql/tree.js';
import type { Db } from '../db.js';
import { qualifiedName, type TableInfo } from './table.js';

/**
 * The names (lower case, without schema) of the functions a parse tree can call: calls by name
 * and attribute notation (`(x).f` is `f(x)`), as the guard's collector finds them.
 */
export function calledFunctions(tree: unknown, type = 'SelectStmt'): string[] {
  const reach = reachableNames(type, tree as Record<string, unknown>);
  return [
    ...new Set([
      ...reach.calls.map((call) => call.name.toLowerCase()),
      ...reach.attributes.map((name) => name.toLowerCase()),
    ]),
  ];
}

/** The first function of `names` whose effect a rollback does not undo, with that effect. */
export function notRolledBack(names: Iterable<string>): { name: string; effect: string } | undefined {
  for (const name of names) {
    const effect = SURVIVES_ROLLBACK.has(name) ? WRITING_FUNCTIONS[name] : undefined;
    if (effect) return { name, effect };
  }
  return undefined;
}

/** Refuses to plan a statement that can reach a function whose effect a rollback does not undo. */
export function refuseSideEffects(statement: AnalyzedStatement, names: Iterable<string>, via = ''): void {
  const found = notRolledBack(names);
  if (!found) return;
  throw refusedError(
    'write.side-effect',
    `refused statement ${statement.index + 1} (${statement.command}): ${found.name}()${via} ${found.effect}, which a rolled-back plan would not undo`,
    {
      hint: 'coderdb plans a write by running it and rolling it back; write the statement without it (for a serial or identity column, give its value)',
    },
  );
}

/**
 * The functions the column defaults an INSERT (or upsert, or MERGE) fills in would call, and a
 * marker `nextval` for identity columns, which draw from their sequence. A column counts as filled
 * in unless the statement names it and never writes DEFAULT.
 */
export async function defaultFunctions(
  db: Db,
  table: TableInfo,
  statement: AnalyzedStatement,
): Promise<string[]> {
  if (statement.dml !== 'insert' && statement.dml !== 'merge') return [];
  const defaults = await db.objects<{ name: string; expr: string | null; identity: boolean }>(
    `SELECT a.attname AS name, pg_get_expr(d.adbin, d.adrelid) AS expr, a.attidentity::text <> '' AS identity
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = to_regclass(${quoteLiteral(qualifiedName(table))}) AND a.attnum > 0 AND NOT a.attisdropped
        AND (d.adbin IS NOT NULL OR a.attidentity::text <> '')`,
  );
  if (defaults.length === 0) return [];
  const given = statement.dml === 'insert' ? explicitColumns(statement.node, table) : undefined;
  const writesDefault = hasNode(statement.node, 'SetToDefault');
  const names: string[] = [];
  for (const column of defaults) {
    if (given?.has(column.name) && !writesDefault) continue;
    if (column.identity) names.push('nextval');
    if (column.expr) {
      const [parsed] = await parseStatements(`SELECT ${column.expr}`);
      if (parsed) names.push(...calledFunctions(parsed.node));
    }
  }
  return names;
}

/**
 * The columns an INSERT gives values for: those it names (`INSERT INTO t (a, b) …`), else the
 * first N of the table for N values per row (`VALUES (…)`, or a SELECT list without `*`).
 */
function explicitColumns(node: Record<string, unknown>, table: TableInfo): Set<string> | undefined {
  const cols = node.cols as { ResTarget?: { name?: string } }[] | undefined;
  if (cols?.length) return new Set(cols.map((col) => col.ResTarget?.name ?? ''));
  const select = (node.selectStmt as { SelectStmt?: Record<string, unknown> } | undefined)?.SelectStmt;
  if (!select) return undefined;
  const values = select.valuesLists as { List?: { items?: unknown[] } }[] | undefined;
  const targets = select.targetList as unknown[] | undefined;
  const count = values?.length
    ? values[0]?.List?.items?.length
    : targets && !hasNode(targets, 'A_Star')
      ? targets.length
      : undefined;
  if (count === undefined) return undefined;
  return new Set(table.columns.slice(0, count).map((column) => column.name));
}

function hasNode(tree: unknown, wanted: string): boolean {
  let found = false;
  walk(tree, (type) => {
    if (type === wanted) found = true;
  });
  return found;
}

/**
 * What tells whether a statement drew from a sequence (a trigger's nextval, a default's). Every
 * plan runs on a fresh session, where `lastval()` is undefined until something draws: exact, and
 * blind to other sessions. When the session is not fresh (PGlite has one session for all) the
 * state of every sequence is added, which no other session can move there.
 */
export async function sequenceMark(db: Db): Promise<string> {
  const lastval = await sessionLastval(db);
  if (lastval === null) return '';
  const [row] = await db.objects<{ state: string | null }>(
    // pg_sequences shows no value for sequences this role may not read, and no temporary ones of
    // other sessions.
    `SELECT string_agg(schemaname || '.' || sequencename || ':' || coalesce(last_value::text, '-'), ','
                       ORDER BY schemaname, sequencename) AS state
       FROM pg_catalog.pg_sequences`,
  );
  return `${lastval} ${row?.state ?? ''}`;
}

/** The session's `lastval()`, or null before any nextval in it; asked inside a DO block so that
 * "not yet defined" does not abort the transaction. */
async function sessionLastval(db: Db): Promise<string | null> {
  await db.run(
    `DO $coderdb$ BEGIN PERFORM set_config('coderdb.lastval', lastval()::text, true);
     EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END $coderdb$`,
  );
  const [row] = await db.objects<{ value: string | null }>(
    `SELECT nullif(current_setting('coderdb.lastval', true), '') AS value`,
  );
  return row?.value ?? null;
}
