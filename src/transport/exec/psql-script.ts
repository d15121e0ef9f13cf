// The psql input the exec transport writes for a session and for each statement. Three rules make
// it safe for SQL of any size and content:
// - the SQL never passes through psql's lexer (which would expand `:name` and run `\commands`): it
//   travels base64-encoded in psql variables, and the server decodes it; `\gexec` runs the result;
// - every input line is shorter than the pty's 4095-byte canonical-mode limit;
// - everything the database produces comes back base64-encoded between marker lines (`\o |base64`
//   for results, `\qecho` of the error message, the stderr file for notices and error details),
//   so the pty and the agent can neither corrupt nor forge it. Plain marker lines carry only
//   numbers, SQLSTATEs and command tags.
// psql's ERROR, SQLSTATE, ROW_COUNT and LAST_ERROR_MESSAGE variables give each statement's outcome.

import { controlsTransaction, WATCHED_SETTINGS } from '../session-guard.js';
import type { StatementPlan } from './statement-plan.js';
import { startsLikeSelect } from './statement-plan.js';

/** Markers psql prints for a statement, each followed by the statement's id. */
export const StatementMarker = {
  /** Result column type OIDs (comma-separated) follow. */
  types: 'F',
  /** base64 of psql's \gdesc output (CSV: Column,Type) follows; for servers before 16. */
  describe: 'G',
  /** base64 of the result follows (CSV with a header, or COPY data); argument: plain | gzip. */
  result: 'R',
  /** The command tag follows as a plain line. */
  tag: 'T',
  /** Succeeded; argument: ROW_COUNT. */
  ok: 'S',
  /** Failed; argument: SQLSTATE; base64 of the error message follows. */
  error: 'E',
  /** base64 of what psql wrote to stderr (notices, error details) follows; may come more than once. */
  stderr: 'X',
  /** The watched settings follow (hex, each after an x), then the transaction's start or '-'. */
  watch: 'W',
  /** The statement is over. */
  end: 'Z',
} as const;

/** psql fetches streamable queries in batches of this many rows instead of holding the result. */
export const FETCH_ROWS = 1000;

/** Input line budget: below the 4095-byte canonical line limit, in case stty raw failed. */
const LINE_CHARS = 2800;
/** base64 characters per psql variable; appending to a variable copies it, so keep each small. */
const VARIABLE_CHARS = LINE_CHARS * 23;
/** What psql (before 17) prepends when it fetches a query through a cursor. */
const CURSOR_PREFIX = 'DECLARE _psql_cursor NO SCROLL CURSOR FOR\n';
const WRAP_PREFIX = 'SELECT * FROM (\n';
/** Text psql may receive as it is: no quotes, colons, backslashes, semicolons or comments. */
const LITERAL_SAFE = /^[A-Za-z0-9_ ,.=()*+<>-]+$/;

export interface ScriptContext {
  /** `@<nonce>`, which starts every marker line. */
  marker: string;
  /** What psql prints for NULL (never equal to a value: it holds the nonce). */
  nullMarker: string;
  /** psql's VERSION_NUM, e.g. 150018. */
  psqlVersion: number;
  /** server_version_num. */
  serverVersion: number;
  /** Compress results in the container (gzip -1) before base64. */
  compress: boolean;
  /** Force psql's \gdesc for result types (what servers before 16 need). */
  describeWithGdesc?: boolean;
  /**
   * Build statement text on the server only while its lexical settings are those the guard parsed
   * under (the single-statement layer; see LEXICAL_CHECK).
   */
  lexicalCheck?: boolean;
  /** Report the watched settings after every statement that succeeded (the settings watch). */
  watch?: boolean;
}

/**
 * The single-statement layer over exec. psql sends what \gexec runs in the simple query protocol,
 * which lets one message carry several statements, and psql before 16 has no other way to send
 * text it must not lex (psql 16's \bind applies to the query buffer, which psql lexes, and
 * reaches \gexec's queries only through psql's internal state, so it is not relied on). So the
 * very query that turns the base64 back into the statement text first checks, on the server, that
 * standard_conforming_strings and client_encoding are what the guard's parser and coderdb's split
 * assumed (on, UTF8); otherwise it fails instead of producing any text, and nothing runs. Within
 * one round trip nothing can change them between the check and the server's reading of the text,
 * so the server reads each statement under the very lexical rules it was split by, as one
 * statement. The failure names a configuration parameter that cannot exist (no dot, spaces), so no
 * set_config can make it evaluate to text.
 */
export const LEXICAL_REFUSAL = 'coderdb refuses: standard_conforming_strings or client_encoding changed';
const LEXICAL_CHECK =
  "pg_catalog.current_setting('standard_conforming_strings') = 'on' AND pg_catalog.pg_client_encoding() = 'UTF8'";

/**
 * The settings watch over exec (psql keeps ParameterStatus to itself): a query after each
 * statement that reports every watched setting, hex-encoded so that any value fits in a marker
 * line, and when the transaction began, or '-' outside one (the query's own implicit transaction
 * starts with it). It is unset first, so that a failure cannot leave the last value in place.
 */
export function watchLines(say: (kind: string, ...args: string[]) => string): string[] {
  const values = WATCHED_SETTINGS.map(
    ({ expression }) => `'x' || pg_catalog.encode(pg_catalog.convert_to(${expression}, 'UTF8'), 'hex')`,
  );
  const transaction =
    "CASE WHEN pg_catalog.transaction_timestamp() = pg_catalog.statement_timestamp() THEN '-' " +
    "ELSE (pg_catalog.date_part('epoch', pg_catalog.transaction_timestamp()) * 1000000)::bigint::text END";
  return [
    '\\unset coderdb_watch',
    `SELECT pg_catalog.concat_ws(' ', ${[...values, transaction].join(', ')}) AS coderdb_watch \\gset`,
    say(StatementMarker.watch, ':coderdb_watch'),
  ];
}

/** The watch alone, for its first reading once the session is set up. */
export function watchScript(id: number, marker: string): string {
  const say = (kind: string, ...args: string[]) => `\\echo ${[marker, kind, String(id), ...args].join(' ')}`;
  return lines(...watchLines(say), say(StatementMarker.end));
}

export interface StatementScript {
  text: string;
  /** For mapping a server error position back into the SQL given to execute(). */
  positions: { prepare: PositionShift; execute: PositionShift };
}

/** server position - shift + offset = position in the caller's SQL. */
export interface PositionShift {
  shift: number;
  offset: number;
}

/** Settings for the whole session; ends with `hello <psql version> <server version>`. */
export function setupScript(marker: string, nullMarker: string): string {
  return lines(
    '\\set QUIET on',
    '\\set ON_ERROR_STOP off',
    '\\set VERBOSITY terse',
    '\\set SHOW_CONTEXT never',
    '\\pset pager off',
    '\\pset format csv',
    '\\pset tuples_only off',
    `\\pset null '${nullMarker}'`,
    '\\set FETCH_COUNT 0',
    `\\echo ${marker} hello :VERSION_NUM :SERVER_VERSION_NUM`,
  );
}

export const QUIT_SCRIPT = '\\q\n';

export function statementScript(plan: StatementPlan, id: number, context: ScriptContext): StatementScript {
  const { marker } = context;
  const say = (kind: string, ...args: string[]) => `\\echo ${[marker, kind, String(id), ...args].join(' ')}`;
  // psql 17 fetches any query in chunks; older ones only queries that start with SELECT or VALUES,
  // through a cursor whose DECLARE shifts error positions. Others are wrapped to start with SELECT.
  const fetch = plan.streamable;
  const cursor = fetch && context.psqlVersion < 170000;
  const wrap = cursor && !startsLikeSelect(plan.bare);
  // Queries psql may fetch in batches use the statement alone (no semicolon), which can be put in
  // a subquery: wrapped to start with SELECT, or counted when it has no columns.
  const source = fetch
    ? { text: plan.bare, offset: plan.bareOffset }
    : { text: plan.text, offset: plan.offset };
  const loaded = load(source.text);
  const name = `coderdb_${marker.slice(1, 9)}_${id}`;
  const prepareText = `PREPARE ${name} AS `;
  const executeShift = (wrap ? WRAP_PREFIX.length : 0) + (cursor ? CURSOR_PREFIX.length : 0);
  const positions = {
    prepare: { shift: prepareText.length, offset: source.offset },
    execute: { shift: executeShift, offset: source.offset },
  };

  // A pipe for \o: base64 (gzip first when asked) of what psql writes, then the stderr harvest, so
  // that a statement costs one process, not two. psql waits for the pipe to finish at \o.
  const harvest = `[ ! -s "$CODERDB_ERR" ] || { base64 "$CODERDB_ERR"; : >"$CODERDB_ERR"; }`;
  const pipeTo = (compress: boolean) =>
    `\\o |${compress ? 'gzip -1 | base64' : 'base64'}; ` +
    `printf "\\n%s\\n" "${[marker, StatementMarker.stderr, id].join(' ')}"; ${harvest}`;
  const errorTail = [
    // Detail and hint, which psql keeps in no variable, go to stderr for the harvest.
    '\\errverbose',
    say(StatementMarker.error, ':SQLSTATE'),
    pipeTo(false),
    '\\qecho :LAST_ERROR_MESSAGE',
    '\\o',
  ];
  // As over direct: transaction control changes no watched setting (ROLLBACK can only restore
  // them), and skipping it keeps the sandbox's PGlite, whose one backend all connections share,
  // from showing this session another session's settings between its transactions.
  const watch = context.watch && !controlsTransaction(plan.command) ? watchLines(say) : [];
  /** After a statement whose output went through a pipe (which harvested stderr already). */
  const statusTail = [
    '\\if :ERROR',
    ...errorTail,
    '\\else',
    say(StatementMarker.ok, ':ROW_COUNT'),
    ...watch,
    '\\endif',
  ];
  /** After a command, which had no pipe: harvest stderr on success too. */
  const commandStatusTail = [
    '\\if :ERROR',
    ...errorTail,
    '\\else',
    say(StatementMarker.ok, ':ROW_COUNT'),
    say(StatementMarker.stderr),
    `\\! ${harvest}`,
    ...watch,
    '\\endif',
  ];
  /**
   * The statement between a prefix and a suffix, sent as it is (ended by \\g on a line of its own,
   * so that the server sees exactly the text) or built on the server from the variables.
   */
  const run = (prefix: string, suffix = '') => {
    if (loaded.literal !== undefined) return `${prefix}${loaded.literal}${suffix}\n\\g`;
    const parts = [
      ...(prefix ? [sqlString(prefix)] : []),
      loaded.expression,
      ...(suffix ? [sqlString(suffix)] : []),
    ];
    const text = parts.join(' || ');
    return context.lexicalCheck
      ? `SELECT CASE WHEN ${LEXICAL_CHECK} THEN ${text} ELSE pg_catalog.current_setting(${sqlString(LEXICAL_REFUSAL)}) END \\gexec`
      : `SELECT ${text} \\gexec`;
  };
  const execute = wrap ? run(WRAP_PREFIX, '\n) AS coderdb_q') : run('');
  const resultPipe = pipeTo(context.compress);
  const encoding = context.compress ? 'gzip' : 'plain';

  let body: string[];
  switch (plan.kind) {
    case 'described': {
      const withTypes = context.serverVersion >= 160000 && !context.describeWithGdesc;
      const describe = withTypes
        ? [
            "SELECT coalesce(array_to_string(result_types::oid[], ','), '') AS coderdb_types, " +
              'coalesce(cardinality(result_types), 1) = 0 AS coderdb_no_columns ' +
              `FROM pg_prepared_statements WHERE name = '${name}' \\gset`,
            say(StatementMarker.types, ':coderdb_types'),
          ]
        : // Printed as it is: only the type names are used (format_type output); the column
          // names, which can hold anything, come from the base64-encoded result.
          [say(StatementMarker.describe), `EXECUTE ${name} \\gdesc`];
      const rows = [
        `\\set FETCH_COUNT ${fetch ? FETCH_ROWS : 0}`,
        say(StatementMarker.result, encoding),
        resultPipe,
        execute,
        '\\o',
        '\\set FETCH_COUNT 0',
      ];
      // psql prints nothing for the rows of a result without columns, so they are counted instead.
      const countRows = withTypes && plan.streamable;
      body = [
        run(prepareText),
        '\\if :ERROR',
        ...errorTail,
        '\\else',
        ...describe,
        // Describing cannot fail after a successful PREPARE; if it did, it must not pass unnoticed.
        '\\if :ERROR',
        ...errorTail,
        '\\else',
        `DEALLOCATE ${name};`,
        ...(countRows
          ? [
              '\\if :coderdb_no_columns',
              say(StatementMarker.result, 'count'),
              resultPipe.replace(/gzip -1 \| /, ''),
              run('SELECT count(*) FROM (\n', '\n) AS coderdb_q'),
              '\\o',
              '\\else',
              ...rows,
              '\\endif',
            ]
          : rows),
        ...statusTail,
        '\\endif',
        '\\endif',
      ];
      break;
    }
    case 'typed':
    case 'untyped':
    case 'copy':
      body = [say(StatementMarker.result, encoding), resultPipe, execute, '\\o', ...statusTail];
      break;
    case 'command':
      // With QUIET off psql prints the command tag (and nothing else, for a command).
      body = [say(StatementMarker.tag), '\\set QUIET off', execute, '\\set QUIET on', ...commandStatusTail];
      break;
  }
  return { text: lines(...loaded.lines, ...body, say(StatementMarker.end), ...loaded.cleanup), positions };
}

interface LoadedText {
  /** The text itself, when psql may receive it as it is. */
  literal?: string;
  /** Otherwise an SQL expression that evaluates to the text on the server. */
  expression: string;
  lines: string[];
  cleanup: string[];
}

/** Puts `text` into psql variables as base64 in short lines, unless it is safe to send as it is. */
function load(text: string): LoadedText {
  if (LITERAL_SAFE.test(text) && !text.includes('--')) {
    return { literal: text, expression: '', lines: [], cleanup: [] };
  }
  const encoded = Buffer.from(text, 'utf8').toString('base64');
  const lines: string[] = [];
  const terms: string[] = [];
  const cleanup: string[] = [];
  for (let start = 0, index = 0; start < encoded.length || index === 0; start += VARIABLE_CHARS, index++) {
    const variable = `coderdb_q${index}`;
    const part = encoded.slice(start, start + VARIABLE_CHARS);
    for (let at = 0; at < part.length || at === 0; at += LINE_CHARS) {
      const chunk = part.slice(at, at + LINE_CHARS);
      lines.push(at === 0 ? `\\set ${variable} '${chunk}'` : `\\set ${variable} :${variable} '${chunk}'`);
    }
    terms.push(`:'${variable}'`);
    cleanup.push(`\\unset ${variable}`);
  }
  // Several variables are joined on the server; a query may span lines, each kept short.
  const joined = terms.reduce(
    (text, term, index) => text + (index === 0 ? '' : index % 100 === 0 ? ' ||\n' : ' || ') + term,
    '',
  );
  return {
    expression: `convert_from(decode(${joined}, 'base64'), 'UTF8')`,
    lines,
    cleanup,
  };
}

/** An SQL string literal for `text`; newlines become chr(10) so that each input line stays simple. */
function sqlString(text: string): string {
  return text
    .split('\n')
    .map((part) => `'${part.replace(/'/g, "''")}'`)
    .join(' || chr(10) || ');
}

function lines(...items: string[]): string {
  return `${items.join('\n')}\n`;
}
