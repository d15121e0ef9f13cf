// How the exec transport runs one statement, decided from PostgreSQL's parse tree before anything is
// sent: whether its result columns must be described first (PREPARE, then the types from
// pg_prepared_statements), whether they are known in advance (EXPLAIN, SHOW), whether the statement
// is a COPY whose data streams as it is, or a command whose only output is its command tag. psql
// hides the wire protocol, so this is what stands in for RowDescription and CommandComplete.

import { usageError } from '../../core/errors.js';
import { type PgNode, parseStatements, type RawStatement } from '../../sql/parser.js';

export type PlanKind =
  /** Preparable and returns rows: SELECT, VALUES, TABLE, DML … RETURNING. */
  | 'described'
  /** Returns rows of types known without asking: EXPLAIN, SHOW. */
  | 'typed'
  /** May return rows of unknown types: FETCH, EXECUTE, CALL, statements that did not parse. */
  | 'untyped'
  /** COPY … TO STDOUT: the server-formatted data passes through. */
  | 'copy'
  /** Returns no rows; its command tag is read from psql's status line. */
  | 'command';

export interface StatementPlan {
  /** The text the server runs. */
  text: string;
  /** Offset of `text` within the SQL given to execute(), to map error positions back. */
  offset: number;
  /** The statement alone (no semicolon, comments around it trimmed), for wrapping in a subquery. */
  bare: string;
  bareOffset: number;
  kind: PlanKind;
  /** Column type OIDs, for `typed`. */
  types?: number[];
  /** A plain SELECT-like query psql may fetch through a cursor in batches (FETCH_COUNT). */
  streamable: boolean;
  /** The first word of the command tag, for kinds whose tag psql does not print. */
  command: string;
  /** Whether psql's ROW_COUNT is the tag's row count. */
  countsRows: boolean;
  /** For `copy`: how to count rows in the data, since psql does not report COPY's count. */
  copyRows?: CopyRowCounting;
}

export interface CopyRowCounting {
  format: 'text' | 'csv';
  header: boolean;
}

const TEXT_OID = 25;
const JSON_OID = 114;
const XML_OID = 142;

const DML_COMMAND: Record<string, string> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
};

/** Parse-tree node types whose statements never return rows. */
const COMMAND_NODE =
  /^(Create|Alter|Drop|Rename|Grant|Comment|Truncate|Lock|Notify|Listen|Unlisten|Do|Prepare|DeclareCursor|ClosePortal|Deallocate|Discard|Vacuum|Reindex|Cluster|CheckPoint|Load|RefreshMatView|SecLabel|Reassign|ImportForeignSchema|Transaction|VariableSet|ConstraintsSet|Define|CompositeType|Index|Rule|View)[A-Za-z]*Stmt$/;

/** Plans every statement of `sql`; SQL that does not parse is left for the server to reject. */
export async function planStatements(sql: string): Promise<StatementPlan[]> {
  let statements: RawStatement[];
  try {
    statements = await parseStatements(sql);
  } catch {
    return [{ ...unparsed(sql), kind: 'untyped', command: firstWord(sql), countsRows: true }];
  }
  if (statements.length === 1) {
    // One statement runs exactly as given, so error positions match the direct transport's.
    return [planOne(statements[0]!, sql, 0)];
  }
  return statements.map((statement) => planOne(statement, statement.text, statement.offset));
}

type PlanBase = Pick<StatementPlan, 'text' | 'offset' | 'bare' | 'bareOffset' | 'streamable' | 'countsRows'>;

function unparsed(sql: string): PlanBase {
  return { text: sql, offset: 0, bare: sql, bareOffset: 0, streamable: false, countsRows: false };
}

function planOne(statement: RawStatement, text: string, offset: number): StatementPlan {
  const { type, node } = statement;
  const base: PlanBase = {
    text,
    offset,
    bare: statement.text,
    bareOffset: statement.offset,
    streamable: false,
    countsRows: false,
  };
  const word = firstWord(statement.text);
  if (type === 'SelectStmt') {
    if (node.intoClause) return { ...base, kind: 'command', command: 'SELECT', countsRows: true };
    // psql can only fetch through a cursor when the statement has no data-modifying WITH.
    return {
      ...base,
      kind: 'described',
      streamable: !hasWritingCte(node),
      command: 'SELECT',
      countsRows: true,
    };
  }
  const dml = DML_COMMAND[type];
  if (dml) {
    const returning = hasReturning(node);
    return { ...base, kind: returning ? 'described' : 'command', command: dml, countsRows: true };
  }
  switch (type) {
    case 'ExplainStmt':
      return { ...base, kind: 'typed', types: [explainType(node)], command: 'EXPLAIN' };
    case 'VariableShowStmt':
      return {
        ...base,
        kind: 'typed',
        types: String(node.name).toLowerCase() === 'all' ? [TEXT_OID, TEXT_OID, TEXT_OID] : [TEXT_OID],
        command: 'SHOW',
      };
    case 'FetchStmt':
      return node.ismove
        ? { ...base, kind: 'command', command: 'MOVE', countsRows: true }
        : { ...base, kind: 'untyped', command: 'FETCH', countsRows: true };
    case 'CopyStmt':
      return planCopy(node, base);
    case 'ExecuteStmt':
      // The tag is the prepared statement's own (SELECT n, UPDATE n …); a row count is likely.
      return { ...base, kind: 'untyped', command: 'SELECT', countsRows: true };
  }
  if (COMMAND_NODE.test(type)) return { ...base, kind: 'command', command: word };
  // CALL with OUT parameters, and anything newer than this list, may return rows.
  return { ...base, kind: 'untyped', command: word };
}

/** The first keyword, upper-cased: the command tag's first word for most utility statements. */
function firstWord(text: string): string {
  return /[A-Za-z]+/.exec(text.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' '))?.[0]?.toUpperCase() ?? '';
}

function planCopy(node: Record<string, unknown>, base: PlanBase): StatementPlan {
  if (node.is_from && !node.filename && !node.is_program) {
    // psql would read the COPY data from its stdin, which carries this session's commands.
    throw usageError('exec.copy-from-stdin', 'COPY … FROM STDIN cannot run over the exec transport', {
      hint: 'use INSERT, or --transport tunnel / direct',
    });
  }
  if (node.is_from || node.filename || node.is_program) {
    return { ...base, kind: 'command', command: 'COPY', countsRows: false };
  }
  const options = copyOptions(node);
  const format = (options.get('format') ?? 'text').toLowerCase();
  const header = ['true', 'on', '1', ''].includes((options.get('header') ?? 'false').toLowerCase());
  const countable = (format === 'text' || format === 'csv') && !options.has('quote');
  return {
    ...base,
    kind: 'copy',
    command: 'COPY',
    ...(countable ? { copyRows: { format: format as 'text' | 'csv', header } } : {}),
  };
}

/** COPY's options as lower-case name → value ('' for a bare option such as HEADER). */
function copyOptions(node: Record<string, unknown>): Map<string, string> {
  const options = new Map<string, string>();
  for (const entry of (node.options as PgNode[] | undefined) ?? []) {
    const def = entry.DefElem as { defname?: string; arg?: Record<string, Record<string, unknown>> };
    if (!def?.defname) continue;
    const arg = def.arg ? Object.values(def.arg)[0] : undefined;
    const value = arg?.sval ?? arg?.boolval ?? arg?.ival ?? '';
    options.set(def.defname.toLowerCase(), String(value));
  }
  return options;
}

function explainType(node: Record<string, unknown>): number {
  for (const entry of (node.options as PgNode[] | undefined) ?? []) {
    const def = entry.DefElem as { defname?: string; arg?: { String?: { sval?: string } } } | undefined;
    if (def?.defname !== 'format') continue;
    const format = String(def.arg?.String?.sval ?? '').toLowerCase();
    if (format === 'json') return JSON_OID;
    if (format === 'xml') return XML_OID;
  }
  return TEXT_OID;
}

/** PostgreSQL 18's parser calls it returningClause.exprs; earlier ones returningList. */
function hasReturning(node: Record<string, unknown>): boolean {
  const clause = node.returningClause as { exprs?: unknown[] } | undefined;
  return ((node.returningList as unknown[] | undefined) ?? clause?.exprs ?? []).length > 0;
}

function hasWritingCte(node: Record<string, unknown>): boolean {
  const ctes = ((node.withClause as { ctes?: PgNode[] } | undefined)?.ctes ?? []) as PgNode[];
  return ctes.some((cte) => {
    const query = (cte.CommonTableExpr as { ctequery?: PgNode } | undefined)?.ctequery;
    return query !== undefined && Object.keys(query).some((key) => key in DML_COMMAND);
  });
}

/**
 * Whether psql (before 17) would fetch this query through a cursor by itself: it looks at the first
 * word after whitespace, comments and opening parentheses (psql's is_select_command).
 */
export function startsLikeSelect(text: string): boolean {
  let i = 0;
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i += 1;
    if (text.startsWith('--', i)) {
      const end = text.indexOf('\n', i);
      if (end < 0) return false;
      i = end + 1;
    } else if (text.startsWith('/*', i)) {
      let depth = 0;
      while (i < text.length) {
        if (text.startsWith('/*', i)) {
          depth += 1;
          i += 2;
        } else if (text.startsWith('*/', i)) {
          depth -= 1;
          i += 2;
          if (depth === 0) break;
        } else i += 1;
      }
    } else if (text[i] === '(') {
      i += 1;
    } else break;
  }
  const word = /^[A-Za-z]+/.exec(text.slice(i, i + 8))?.[0]?.toLowerCase();
  return word === 'select' || word === 'values';
}
