// The guard decides, before anything is sent, what each statement may do to the database. It walks
// the tree from PostgreSQL's own parser, so quoting, dollar quoting and comments cannot hide a
// statement. It is the first of two locks: every session also runs in a READ ONLY transaction
// unless writing was asked for, so PostgreSQL itself refuses what the guard might miss.

import { refusedError, usageError } from '../core/errors.js';
import { type PgNode, parseStatements, type RawStatement, scanTokens } from './parser.js';

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
  /** UPDATE/DELETE whose WHERE clause is missing or refers to no column (WHERE true, WHERE 1=1). */
  affectsAllRows: boolean;
  hasReturning: boolean;
  /** INSERT … ON CONFLICT DO UPDATE: it may change existing rows as well as add new ones. */
  upsert: boolean;
  /** A data-modifying statement inside WITH. */
  hasWritingCte: boolean;
  /** The text to record in the audit log: string literals of role and credential statements masked. */
  auditText: string;
}

/** Functions that change something even inside a READ ONLY transaction, or outside it. */
const WRITING_FUNCTIONS: Record<string, string> = {
  nextval: 'advances a sequence',
  setval: 'sets a sequence',
  set_config: 'changes a server setting',
  pg_advisory_lock: 'takes a session lock',
  pg_advisory_lock_shared: 'takes a session lock',
  pg_try_advisory_lock: 'takes a session lock',
  pg_try_advisory_lock_shared: 'takes a session lock',
  pg_advisory_xact_lock: 'takes a lock',
  pg_advisory_xact_lock_shared: 'takes a lock',
  pg_try_advisory_xact_lock: 'takes a lock',
  pg_try_advisory_xact_lock_shared: 'takes a lock',
  pg_notify: 'sends a notification',
  pg_terminate_backend: 'terminates a database session',
  pg_cancel_backend: 'cancels a running query',
  pg_reload_conf: 'reloads the server configuration',
  pg_rotate_logfile: 'rotates the server log',
  pg_switch_wal: 'switches the WAL file',
  pg_create_restore_point: 'writes a WAL restore point',
  pg_promote: 'promotes a standby',
  pg_log_backend_memory_contexts: 'writes to the server log',
  pg_stat_reset: 'resets statistics',
  pg_stat_reset_shared: 'resets statistics',
  pg_stat_reset_single_table_counters: 'resets statistics',
  pg_stat_reset_single_function_counters: 'resets statistics',
  pg_stat_reset_slru: 'resets statistics',
  pg_stat_reset_replication_slot: 'resets statistics',
  pg_create_logical_replication_slot: 'creates a replication slot',
  pg_create_physical_replication_slot: 'creates a replication slot',
  pg_drop_replication_slot: 'drops a replication slot',
  lo_create: 'creates a large object',
  lo_creat: 'creates a large object',
  lo_unlink: 'deletes a large object',
  lo_from_bytea: 'creates a large object',
  lo_put: 'writes a large object',
  lo_truncate: 'writes a large object',
  lo_truncate64: 'writes a large object',
  lowrite: 'writes a large object',
  lo_open: 'opens a large object',
  lo_import: 'reads a server file into the database',
  lo_export: 'writes a file on the database server',
  pg_file_write: 'writes a file on the database server',
  pg_file_rename: 'renames a file on the database server',
  pg_file_unlink: 'deletes a file on the database server',
  pg_file_sync: 'writes a file on the database server',
  dblink: 'runs SQL on another server, outside this transaction',
  dblink_exec: 'runs SQL on another server, outside this transaction',
  dblink_open: 'runs SQL on another server, outside this transaction',
  dblink_send_query: 'runs SQL on another server, outside this transaction',
  dblink_connect: 'opens a connection to another server',
  dblink_connect_u: 'opens a connection to another server',
  txid_current: 'assigns a transaction id',
  pg_current_xact_id: 'assigns a transaction id',
};

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
  const reasons = new Set<string>();
  let forbidden = false;
  const forbid = (reason: string) => {
    forbidden = true;
    reasons.add(reason);
  };
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
        // EXPLAIN without ANALYZE plans the query and runs nothing.
        return statement;
      }
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
      const name = functionName(node);
      const effect = name ? WRITING_FUNCTIONS[name] : undefined;
      if (effect) write(`${name}() ${effect}`);
    } else if (type in DML) {
      write(`contains a data-modifying ${type.replace('Stmt', '').toUpperCase()}`);
    } else if (type === 'CommonTableExpr') {
      const query = node.ctequery as PgNode | undefined;
      const inner = query ? Object.keys(query)[0] : undefined;
      if (inner && inner in DML) {
        statement.hasWritingCte = true;
        write(`WITH clause contains a data-modifying ${inner.replace('Stmt', '').toUpperCase()}`);
      }
    } else if (type === 'IntoClause' && raw.type === 'SelectStmt') {
      write('SELECT INTO creates a table');
    } else if (type === 'LockingClause') {
      write('SELECT … FOR UPDATE/SHARE locks rows');
    }
  });

  if (statement.dml && (raw.node.returningList as unknown[] | undefined)?.length)
    statement.hasReturning = true;
  statement.reasons = [...reasons];
  statement.effect = forbidden ? 'forbidden' : reasons.size ? 'write' : 'read';
  return statement;
}

function describeDml(raw: RawStatement, statement: AnalyzedStatement, write: (reason: string) => void): void {
  statement.dml = DML[raw.type];
  const relation = raw.node.relation as {
    schemaname?: string;
    relname: string;
    alias?: { aliasname: string };
  };
  statement.target = {
    ...(relation.schemaname ? { schema: relation.schemaname } : {}),
    name: relation.relname,
    ref: relation.alias?.aliasname ?? relation.relname,
  };
  write(`${statement.command} changes rows of ${qualified(statement.target)}`);
  const onConflict = raw.node.onConflictClause as { action?: string } | undefined;
  statement.upsert = onConflict?.action === 'ONCONFLICT_UPDATE';
  if (statement.dml === 'update' || statement.dml === 'delete') {
    const where = raw.node.whereClause as PgNode | undefined;
    statement.affectsAllRows = !where || !mentionsColumn(where);
  }
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
  }
}

function checkCopy(node: Record<string, unknown>, forbid: (reason: string) => void): void {
  if (node.is_program) forbid('COPY … PROGRAM runs a program on the database server');
  else if (node.filename) forbid('COPY with a file name reads or writes files on the database server');
  else if (node.is_from) forbid('COPY FROM STDIN is not supported; use INSERT');
}

function hasExplainOption(node: Record<string, unknown>, option: string): boolean {
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

function mentionsColumn(node: unknown): boolean {
  let found = false;
  walk(node, (type) => {
    if (type === 'ColumnRef' || type === 'SubLink') found = true;
  });
  return found;
}

/** Calls `visit` for every node of the tree, depth first. */
function walk(value: unknown, visit: (type: string, node: Record<string, unknown>) => void): void {
  const stack: unknown[] = [value];
  // Bounded by the size of the tree; an explicit stack keeps deeply nested SQL from overflowing.
  while (stack.length > 0) {
    const current = stack.pop();
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
    } else if (current && typeof current === 'object') {
      for (const [key, child] of Object.entries(current)) {
        if (child && typeof child === 'object' && !Array.isArray(child) && /^[A-Z]/.test(key)) {
          visit(key, child as Record<string, unknown>);
        }
        stack.push(child);
      }
    }
  }
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
      throw refusedError(
        'guard.all-rows',
        `refused ${label}: it has no WHERE clause that selects rows, so it changes every row of ${qualified(statement.target!)}`,
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
