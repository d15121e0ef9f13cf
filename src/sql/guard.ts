// The guard decides, before anything is sent, what each statement may do to the database. It walks
// the tree from PostgreSQL's own parser, so quoting, dollar quoting and comments cannot hide a
// statement. It is the first of two locks: every session also runs in a READ ONLY transaction
// unless writing was asked for, so PostgreSQL itself refuses what the guard might miss.

import { refusedError, usageError } from '../core/errors.js';
import { WRITING_FUNCTIONS } from './function-effects.js';
import { type PgNode, parseStatements, type RawStatement, scanTokens } from './parser.js';
import { walk } from './tree.js';

/** What running a statement does: `read` is allowed in read-only sessions, `write` needs --write,
 * `forbidden` is never run by coderdb (it would escape the transaction coderdb manages). */
export type Effect = 'read' | 'write' | 'forbidden';

export interface TargetTable {
  schema?: string;
  name: string;
  /** The name the statement uses for the table (its alias, or its name). */
  ref: string;
}

export interface AnalyzedStatement {
  index: number;
  text: string;
  offset: number;
  /** Parse-tree node name, e.g. `UpdateStmt`. */
  type: string;
  /** Command tag-like label for people: SELECT, UPDATE, CREATE TABLE … */
  command: string;
  effect: Effect;
  /** Why the statement is a write or forbidden; empty for plain reads. */
  reasons: string[];
  /** For top-level INSERT/UPDATE/DELETE/MERGE. */
  dml?: 'insert' | 'update' | 'delete' | 'merge';
  target?: TargetTable;
  /** An UPDATE/DELETE whose WHERE clause is missing or refers to no column (WHERE true, WHERE 1=1),
   * at the top level or inside WITH or EXPLAIN ANALYZE. */
  affectsAllRows: boolean;
  /** The table such an UPDATE/DELETE changes every row of. */
  allRowsTarget?: TargetTable;
  hasReturning: boolean;
  /** INSERT … ON CONFLICT DO UPDATE: it may change existing rows as well as add new ones. */
  upsert: boolean;
  /** A data-modifying statement inside WITH. */
  hasWritingCte: boolean;
  /** The text to record in the audit log: string literals of role and credential statements masked. */
  auditText: string;
  /** The statement's parse tree (the fields of its top-level node). */
  node: Record<string, unknown>;
}

/** Settings that would let a session leave read-only mode or change who it is. */
const PROTECTED_SETTINGS = new Set([
  'transaction_read_only',
  'default_transaction_read_only',
  'transaction_isolation',
  'default_transaction_isolation',
  'transaction_deferrable',
  'session_authorization',
  'role',
  'session_replication_role',
]);

/**
 * Settings that change how PostgreSQL reads SQL text. With standard_conforming_strings off, `\'`
 * ends no string; in a client encoding such as SJIS, a backslash can be the second byte of a
 * character. Either way the server would split later statements differently from the guard's
 * parser, and a function call or a second statement could hide inside what the guard saw as a
 * string literal.
 */
const LEXICAL_SETTINGS = new Set(['standard_conforming_strings', 'client_encoding']);

/**
 * coderdb's own limits on a session: how long a statement, a lock wait or an idle transaction may
 * last, and how often the server checks that coderdb is still there. SQL may not change them in
 * either mode (`SET statement_timeout = 0` would lift the limit; RESET would restore the server's).
 */
export const TIMEOUT_SETTINGS = new Set([
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'client_connection_check_interval',
  'transaction_timeout',
]);

/** System views that read the server's configuration files, as pg_read_file would. */
const FILE_VIEWS: Record<string, string> = {
  pg_hba_file_rules: 'reads pg_hba.conf on the database server',
  pg_ident_file_mappings: 'reads pg_ident.conf on the database server',
  pg_file_settings: 'reads the configuration files of the database server',
};

/** Statements PostgreSQL refuses inside a transaction block, or that change the server itself. */
const OUTSIDE_TRANSACTION: Record<string, string> = {
  VacuumStmt: 'VACUUM/ANALYZE cannot run inside the transaction coderdb uses; run it with psql',
  CreatedbStmt: 'CREATE DATABASE cannot run inside a transaction',
  DropdbStmt: 'DROP DATABASE cannot run inside a transaction',
  AlterSystemStmt: 'ALTER SYSTEM changes the server configuration and cannot run in a transaction',
  CheckPointStmt: 'CHECKPOINT is a server operation',
  LoadStmt: 'LOAD loads a shared library into the server',
  DiscardStmt: 'DISCARD resets the session coderdb manages',
  CreateTableSpaceStmt: 'CREATE TABLESPACE cannot run inside a transaction',
  DropTableSpaceStmt: 'DROP TABLESPACE cannot run inside a transaction',
  ReindexStmt: 'REINDEX can lock tables for a long time; run it with psql',
};

/** Statements whose string literals may be passwords or connection secrets. */
const CREDENTIAL_STATEMENTS = new Set([
  'CreateRoleStmt',
  'AlterRoleStmt',
  'CreateUserMappingStmt',
  'AlterUserMappingStmt',
  'CreateForeignServerStmt',
  'AlterForeignServerStmt',
  'CreateSubscriptionStmt',
  'AlterSubscriptionStmt',
]);

const DML: Record<string, AnalyzedStatement['dml']> = {
  InsertStmt: 'insert',
  UpdateStmt: 'update',
  DeleteStmt: 'delete',
  MergeStmt: 'merge',
};

export interface AnalyzeOptions {
  /** Largest SQL text accepted, in characters. */
  maxLength?: number;
}

const DEFAULT_MAX_LENGTH = 16 * 1024 * 1024;
// Text decoded from invalid UTF-8 with a lenient decoder, or built in JavaScript, can hold halves
// of surrogate pairs, which cannot be encoded for the server.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Parses and classifies every statement of `sql`. Rejects text that is not SQL coderdb can send. */
export async function analyze(sql: string, options: AnalyzeOptions = {}): Promise<AnalyzedStatement[]> {
  if (sql.includes('\0')) {
    throw usageError('sql.nul-byte', 'the SQL contains a NUL byte, which PostgreSQL cannot receive', {
      hint: 'remove it; a NUL byte usually means a binary file was given as SQL',
    });
  }
  if (LONE_SURROGATE.test(sql)) {
    throw usageError('sql.encoding', 'the SQL is not valid UTF-8');
  }
  const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  if (sql.length > maxLength) {
    throw usageError('sql.too-large', `the SQL is larger than ${maxLength} characters`);
  }
  const statements = await parseStatements(sql);
  if (statements.length === 0) {
    throw usageError('sql.empty', 'no SQL statement was given', {
      hint: 'pass SQL as an argument, -f FILE or stdin',
    });
  }
  return Promise.all(statements.map((raw, index) => classify(raw, index)));
}

async function classify(raw: RawStatement, index: number): Promise<AnalyzedStatement> {
  // Reasons to forbid come first: the first reason is the one a refusal names.
  const forbidReasons = new Set<string>();
  const reasons = new Set<string>();
  const forbid = (reason: string) => forbidReasons.add(reason);
  const write = (reason: string) => reasons.add(reason);

  const statement: AnalyzedStatement = {
    index,
    text: raw.text,
    offset: raw.offset,
    type: raw.type,
    command: commandLabel(raw.type, raw.node),
    effect: 'read',
    reasons: [],
    affectsAllRows: false,
    hasReturning: false,
    upsert: false,
    hasWritingCte: false,
    auditText: CREDENTIAL_STATEMENTS.has(raw.type) ? await maskStrings(raw.text) : raw.text,
    node: raw.node,
  };
  const finish = () => {
    statement.reasons = [...new Set([...forbidReasons, ...reasons])];
    statement.effect = forbidReasons.size ? 'forbidden' : reasons.size ? 'write' : 'read';
    return statement;
  };

  switch (raw.type) {
    case 'SelectStmt':
    case 'VariableShowStmt':
    case 'ListenStmt':
    case 'UnlistenStmt':
    case 'FetchStmt':
    case 'ClosePortalStmt':
      break;
    case 'ExplainStmt':
      if (!hasExplainOption(raw.node, 'analyze')) {
        // EXPLAIN without ANALYZE plans the query and runs nothing, except that EXPLAIN EXECUTE
        // evaluates the prepared statement's parameters.
        walk(raw.node, (type, node) => {
          if (type === 'ExecuteStmt') {
            walk(node.params, (inner, call) => {
              if (inner === 'FuncCall') checkFunction(call, write, forbid);
            });
          }
        });
        return finish();
      }
      // EXPLAIN ANALYZE runs the statement: what it explains is checked below like any nested
      // statement.
      break;
    case 'TransactionStmt':
      forbid('coderdb runs every command in its own transaction; transaction control is not allowed');
      break;
    case 'VariableSetStmt':
      checkSet(raw.node, forbid);
      break;
    case 'CopyStmt':
      checkCopy(raw.node, forbid);
      break;
    case 'DoStmt':
      write('a DO block runs procedural code that cannot be checked');
      break;
    case 'CallStmt':
      write('CALL runs a procedure that may write');
      break;
    case 'ExecuteStmt':
      write('EXECUTE runs a prepared statement that cannot be checked here');
      break;
    case 'LockStmt':
      write('LOCK takes table locks');
      break;
    case 'NotifyStmt':
      write('NOTIFY sends a notification');
      break;
    case 'PrepareStmt':
    case 'DeclareCursorStmt':
      break;
    default:
      if (raw.type in OUTSIDE_TRANSACTION) forbid(OUTSIDE_TRANSACTION[raw.type]!);
      else if (raw.type in DML) describeDml(raw, statement, write);
      else write(`${statement.command} changes the schema or the database`);
  }

  walk(raw.node, (type, node) => {
    if (type === 'FuncCall') {
      checkFunction(node, write, forbid);
    } else if (type === 'ColumnRef' || type === 'A_Indirection') {
      for (const name of attributeCallNames(type, node)) checkAttributeCall(name, write);
    } else if (type in DML) {
      write(`contains a data-modifying ${type.replace('Stmt', '').toUpperCase()}`);
      if ((type === 'UpdateStmt' || type === 'DeleteStmt') && !selectsRows(node)) {
        statement.affectsAllRows = true;
        statement.allRowsTarget ??= targetOf(node);
      }
    } else if (type === 'CreateTableAsStmt') {
      // Only under EXPLAIN ANALYZE, which creates the table (even in a READ ONLY transaction).
      write('EXPLAIN ANALYZE of CREATE TABLE AS creates a table');
    } else if (type === 'ExecuteStmt') {
      write('EXECUTE runs a prepared statement that cannot be checked here');
    } else if (type === 'CommonTableExpr') {
      const query = node.ctequery as PgNode | undefined;
      const inner = query ? Object.keys(query)[0] : undefined;
      if (inner && inner in DML) {
        statement.hasWritingCte = true;
        write(`WITH clause contains a data-modifying ${inner.replace('Stmt', '').toUpperCase()}`);
      }
    } else if (type === 'RangeVar') {
      const schema = node.schemaname === undefined ? 'pg_catalog' : String(node.schemaname);
      const view = FILE_VIEWS[String(node.relname)];
      if (view && schema === 'pg_catalog') write(`${String(node.relname)} ${view}`);
    } else if (type === 'LockingClause') {
      write('SELECT … FOR UPDATE/SHARE locks rows');
    }
  });

  // The INTO of SELECT INTO is a field of the SelectStmt (possibly the left branch of a UNION, or
  // under EXPLAIN ANALYZE), not a node of its own, so the walk above does not see it.
  if (raw.type !== 'CreateTableAsStmt' && hasField(raw.node, 'intoClause')) {
    write('SELECT INTO creates a table');
  }

  if (statement.dml && returningItems(raw.node) > 0) statement.hasReturning = true;
  return finish();
}

/** PostgreSQL 18's tree holds RETURNING in returningClause.exprs; older ones in returningList. */
function returningItems(node: Record<string, unknown>): number {
  const clause = node.returningClause as { exprs?: unknown[] } | undefined;
  return (clause?.exprs ?? (node.returningList as unknown[] | undefined) ?? []).length;
}

function describeDml(raw: RawStatement, statement: AnalyzedStatement, write: (reason: string) => void): void {
  statement.dml = DML[raw.type];
  statement.target = targetOf(raw.node);
  write(`${statement.command} changes rows of ${qualified(statement.target)}`);
  const onConflict = raw.node.onConflictClause as { action?: string } | undefined;
  statement.upsert = onConflict?.action === 'ONCONFLICT_UPDATE';
  if ((statement.dml === 'update' || statement.dml === 'delete') && !selectsRows(raw.node)) {
    statement.affectsAllRows = true;
    statement.allRowsTarget = statement.target;
  }
}

function targetOf(node: Record<string, unknown>): TargetTable {
  const relation = node.relation as { schemaname?: string; relname: string; alias?: { aliasname: string } };
  return {
    ...(relation.schemaname ? { schema: relation.schemaname } : {}),
    name: relation.relname,
    ref: relation.alias?.aliasname ?? relation.relname,
  };
}

/**
 * Whether an UPDATE/DELETE has a WHERE clause that can tell the target's rows apart: one that refers
 * to a column that may be the target's (unqualified, or qualified with its name or alias).
 * `WHERE true` does not, nor does `UPDATE t … FROM u WHERE u.id = 1`, which changes every row of t;
 * a subquery that refers to no such column (WHERE EXISTS (SELECT 1)) is the same for every row.
 */
function selectsRows(node: Record<string, unknown>): boolean {
  const where = node.whereClause as PgNode | undefined;
  if (where === undefined) return false;
  const target = targetOf(node).ref;
  let found = false;
  walk(where, (type, ref) => {
    if (type !== 'ColumnRef') return;
    const names = ((ref.fields as PgNode[] | undefined) ?? []).map(
      (field) => (field.String as { sval?: string } | undefined)?.sval,
    );
    if (names.length < 2 || names[names.length - 2] === target) found = true;
  });
  return found;
}

function checkFunction(
  node: Record<string, unknown>,
  write: (reason: string) => void,
  forbid: (reason: string) => void,
): void {
  const name = functionName(node);
  if (!name) return;
  const args = (node.args as PgNode[] | undefined) ?? [];
  // The two-argument ts_rewrite runs a query given as text; the three-argument one does not.
  const effect =
    name === 'ts_rewrite' && args.length === 2 ? WRITING_FUNCTIONS.ts_stat : WRITING_FUNCTIONS[name];
  if (effect) write(`${name}() ${effect}`);
  if (name === 'set_config') {
    const setting = stringConstant(args[0])?.toLowerCase();
    if (setting === undefined) {
      forbid('set_config() with a setting name that is not a string literal cannot be checked');
    } else if (LEXICAL_SETTINGS.has(setting)) {
      forbid(`setting ${setting} would change how the server reads the SQL that follows`);
    } else if (PROTECTED_SETTINGS.has(setting)) {
      forbid(`setting ${setting} would change the read-only mode or identity of the session`);
    } else if (TIMEOUT_SETTINGS.has(setting)) {
      forbid(timeoutReason(setting));
    }
  }
}

const timeoutReason = (setting: string) =>
  `${setting} is one of coderdb's own limits on the session; SQL may not change it`;

/**
 * The names in a column reference or a field selection that PostgreSQL may read as a function
 * applied to the value before them: `x.f` is `f(x)` when `x` is a table (its whole row) and `f` is
 * not one of its columns; `(expr).f` is `f(expr)` when `f` is not a field of `expr`'s type (any
 * type: `(pid).pg_terminate_backend`). A lone name (`f`) is always a column or a table.
 */
export function attributeCallNames(type: string, node: Record<string, unknown>): string[] {
  const names = (list: unknown) =>
    ((list as PgNode[] | undefined) ?? []).map(
      (field) => (field.String as { sval?: string } | undefined)?.sval,
    );
  if (type === 'ColumnRef') {
    const fields = names(node.fields);
    const last = fields.at(-1);
    return fields.length >= 2 && last !== undefined ? [last] : [];
  }
  return names(node.indirection).filter((name): name is string => name !== undefined);
}

function checkAttributeCall(name: string, write: (reason: string) => void): void {
  const lower = name.toLowerCase();
  const effect = lower === 'ts_rewrite' ? undefined : WRITING_FUNCTIONS[lower];
  // Called this way a function gets one argument; set_config and its kind need more, but the name
  // alone is refused: the guard does not know the types that would make the call resolve.
  if (effect) write(`.${name} calls ${lower}(), which ${effect}`);
}

/** The value of a string literal, possibly cast ('x'::text), else undefined. */
function stringConstant(node: PgNode | undefined): string | undefined {
  let current = node;
  while (current?.TypeCast) current = (current.TypeCast as { arg?: PgNode }).arg;
  const constant = current?.A_Const as { sval?: { sval?: string } } | undefined;
  return constant?.sval ? (constant.sval.sval ?? '') : undefined;
}

function checkSet(node: Record<string, unknown>, forbid: (reason: string) => void): void {
  const kind = String(node.kind);
  const name = String(node.name ?? '').toLowerCase();
  if (kind === 'VAR_RESET_ALL') {
    forbid('RESET ALL would reset the session coderdb manages');
  } else if (kind === 'VAR_SET_MULTI') {
    forbid(`SET ${name.toUpperCase()} changes the transaction coderdb manages`);
  } else if (PROTECTED_SETTINGS.has(name)) {
    forbid(`setting ${name} would change the read-only mode or identity of the session`);
  } else if (LEXICAL_SETTINGS.has(name)) {
    forbid(`setting ${name} would change how the server reads the SQL that follows`);
  } else if (TIMEOUT_SETTINGS.has(name)) {
    forbid(timeoutReason(name));
  }
}

function checkCopy(node: Record<string, unknown>, forbid: (reason: string) => void): void {
  if (node.is_program) forbid('COPY … PROGRAM runs a program on the database server');
  else if (node.filename) forbid('COPY with a file name reads or writes files on the database server');
  else if (node.is_from) forbid('COPY FROM STDIN is not supported; use INSERT');
}

export function hasExplainOption(node: Record<string, unknown>, option: string): boolean {
  const options = (node.options as PgNode[] | undefined) ?? [];
  return options.some((entry) => {
    const def = entry.DefElem as { defname?: string; arg?: PgNode } | undefined;
    if (def?.defname !== option) return false;
    // EXPLAIN (ANALYZE false) is allowed; a bare ANALYZE has no argument.
    const arg = def.arg as { Boolean?: { boolval?: boolean }; String?: { sval?: string } } | undefined;
    if (!arg) return true;
    if (arg.Boolean) return arg.Boolean.boolval === true;
    return !['false', 'off', '0'].includes(String(arg.String?.sval ?? '').toLowerCase());
  });
}

function functionName(node: Record<string, unknown>): string | undefined {
  const parts = (node.funcname as { String?: { sval?: string } }[] | undefined) ?? [];
  return parts.at(-1)?.String?.sval?.toLowerCase();
}

/** Whether any object in the tree has a non-empty field of that name. */
function hasField(value: unknown, field: string): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
    } else if (current && typeof current === 'object') {
      if ((current as Record<string, unknown>)[field]) return true;
      for (const child of Object.values(current)) stack.push(child);
    }
  }
  return false;
}

function commandLabel(type: string, node: Record<string, unknown>): string {
  switch (type) {
    case 'SelectStmt':
      return node.valuesLists ? 'VALUES' : 'SELECT';
    case 'VariableShowStmt':
      return 'SHOW';
    case 'VariableSetStmt':
      return node.kind === 'VAR_RESET' || node.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
    case 'TransactionStmt':
      return String(node.kind ?? 'TRANSACTION')
        .replace(/^TRANS_STMT_/, '')
        .replace(/_/g, ' ');
    case 'ExplainStmt':
      return 'EXPLAIN';
    case 'CopyStmt':
      return 'COPY';
    case 'DoStmt':
      return 'DO';
    case 'CreateStmt':
      return 'CREATE TABLE';
    case 'DropStmt':
      return `DROP ${String(node.removeType ?? '').replace(/^OBJECT_/, '')}`.trim();
    default:
      return type
        .replace(/Stmt$/, '')
        .replace(/([a-z])([A-Z])/g, '$1 $2')
        .toUpperCase();
  }
}

export function qualified(table: { schema?: string; name: string }): string {
  return table.schema ? `${table.schema}.${table.name}` : table.name;
}

export interface GuardPolicy {
  write: boolean;
  allowAllRows?: boolean;
}

/**
 * Throws a `refused` error for the first statement the policy does not allow, naming the
 * statement and the reason, so that nothing is sent when any statement would be refused.
 */
export function enforce(statements: AnalyzedStatement[], policy: GuardPolicy): void {
  for (const statement of statements) {
    const label =
      statements.length > 1 ? `statement ${statement.index + 1} (${statement.command})` : statement.command;
    if (statement.effect === 'forbidden') {
      throw refusedError('guard.forbidden', `refused ${label}: ${statement.reasons[0]}`, {
        hint: 'nothing was sent to the database',
      });
    }
    if (statement.effect === 'write' && !policy.write) {
      throw refusedError(
        'guard.read-only',
        `refused ${label}: ${statement.reasons[0]} and this session is read-only`,
        {
          hint: 'add --write to plan the change (it is shown and confirmed before anything is committed)',
        },
      );
    }
    if (statement.affectsAllRows && !policy.allowAllRows) {
      const table = statement.allRowsTarget ?? statement.target;
      throw refusedError(
        'guard.all-rows',
        `refused ${label}: it has no WHERE clause that selects rows, so it changes every row of ${table ? qualified(table) : 'a table'}`,
        {
          hint: 'add a WHERE clause, or --allow-all-rows if every row is really meant',
        },
      );
    }
  }
}

/** Offset in `text` of the statement's own top-level RETURNING keyword, if it has one. */
export async function findReturning(text: string): Promise<number | undefined> {
  let depth = 0;
  let found: number | undefined;
  for (const token of await scanTokens(text)) {
    if (token.text === '(') depth += 1;
    else if (token.text === ')') depth -= 1;
    else if (depth === 0 && token.kind === 'RETURNING') found = token.start;
  }
  return found;
}

async function maskStrings(text: string): Promise<string> {
  let masked = '';
  let last = 0;
  for (const token of await scanTokens(text)) {
    if (token.kind !== 'SCONST') continue;
    masked += `${text.slice(last, token.start)}'***'`;
    last = token.end;
  }
  return masked + text.slice(last);
}

/**
 * Every name a SELECT's result columns could take (PostgreSQL names a column after its alias, a
 * column reference, a function, a type or a keyword), or undefined when a `*` hides them. An
 * over-approximation: if no name here is X, no output column is named X.
 */
export function possibleOutputNames(statement: AnalyzedStatement): string[] | undefined {
  if (statement.type !== 'SelectStmt') return undefined;
  const names = new Set<string>();
  let star = false;
  const targets = selectTargets(statement.node);
  walk(targets, (type, node) => {
    if (type === 'A_Star') star = true;
    else if (type === 'ResTarget' && typeof node.name === 'string') names.add(node.name);
    else if (type === 'String' && typeof node.sval === 'string') names.add(node.sval);
  });
  return star ? undefined : [...names];
}

/** The target lists of a SELECT, including both sides of UNION/INTERSECT/EXCEPT. */
function selectTargets(node: Record<string, unknown>): unknown[] {
  if (node.op && node.op !== 'SETOP_NONE') {
    const left = (node.larg as Record<string, unknown> | undefined) ?? {};
    const right = (node.rarg as Record<string, unknown> | undefined) ?? {};
    return [...selectTargets(left), ...selectTargets(right)];
  }
  return (node.targetList as unknown[] | undefined) ?? [];
}
