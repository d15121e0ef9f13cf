// PostgreSQL's own parser (libpg-query, compiled to WebAssembly), loaded on first use so that
// commands which never parse SQL do not pay for it. The parser reports byte offsets into the UTF-8
// text; everything here converts them so that callers only ever see JavaScript string offsets.

import { createRequire } from 'node:module';
import { CoderdbError, usageError } from '../core/errors.js';

/** A node of the parse tree: `{ NodeType: { …fields } }`. */
export type PgNode = Record<string, unknown>;

export interface RawStatement {
  /** The statement's source text, trimmed, without its terminating semicolon. */
  text: string;
  /** Offset of `text` in the input, in characters. */
  offset: number;
  /** Name of the top-level node, e.g. `SelectStmt`. */
  type: string;
  /** The node's fields. */
  node: Record<string, unknown>;
}

export interface Token {
  /** Offsets in characters within the text given to `scan`. */
  start: number;
  end: number;
  text: string;
  /** Parser token name (`IDENT`, `SCONST`, `ASCII_40` …) or the keyword in upper case. */
  kind: string;
}

type LibPgQuery = typeof import('libpg-query');
let loaded: Promise<LibPgQuery> | undefined;
// Loaded with require so that a broken instance can be dropped from the cache and loaded afresh.
const requireModule = createRequire(import.meta.url);

function load(): Promise<LibPgQuery> {
  loaded ??= (async () => {
    const lib = requireModule('libpg-query') as LibPgQuery;
    await lib.loadModule();
    return lib;
  })();
  return loaded;
}

/**
 * Runs one call into the parser. SQL nested deeper than the WebAssembly stack allows (`SELECT 1 + 1
 * + …` with tens of thousands of terms) aborts the call half-way, which leaves the module's memory
 * in a state that later calls cannot trust (after a few dozen aborts they fail or misbehave), so the
 * instance is dropped and the next call loads a fresh one.
 */
function call<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if ((error as ParseError).sqlDetails) throw error;
    loaded = undefined;
    delete requireModule.cache[requireModule.resolve('libpg-query')];
    if (error instanceof RangeError) {
      throw usageError('sql.too-deep', 'the SQL is nested too deeply to be parsed', {
        hint: 'simplify or split the expression; nothing was sent to the database',
      });
    }
    throw new CoderdbError('internal', 'sql.parser-failed', `the SQL parser failed: ${String(error)}`, {
      hint: 'nothing was sent to the database',
      cause: error,
    });
  }
}

interface ParseError {
  sqlDetails?: { message: string; cursorPosition?: number };
  message?: string;
}

/** Splits and parses SQL. A syntax error becomes a usage error with the position marked. */
/**
 * Starts loading the parser without waiting for it: compiling the WebAssembly happens off the main
 * thread, so a command that will parse SQL overlaps it with its own start-up.
 */
export function preloadParser(): void {
  load().catch(() => undefined);
}

export async function parseStatements(sql: string): Promise<RawStatement[]> {
  // libpg-query refuses the empty string; it is no statement at all, like a blank or a comment.
  if (sql === '') return [];
  const lib = await load();
  const bytes = Buffer.from(sql, 'utf8');
  const charOffset = charOffsets(bytes);
  let result: { stmts?: { stmt: PgNode; stmt_location?: number; stmt_len?: number }[] };
  try {
    result = call(() => lib.parseSync(sql)) as typeof result;
  } catch (error) {
    if (error instanceof CoderdbError) throw error;
    const details = (error as ParseError).sqlDetails;
    const message = details?.message ?? (error as ParseError).message ?? String(error);
    // PostgreSQL reports the error position in characters (code points), not bytes.
    const position =
      details?.cursorPosition === undefined ? undefined : codePointOffset(sql, details.cursorPosition) + 1;
    const where = locate(sql, position);
    const text = message.startsWith('syntax error') ? `SQL ${message}` : `SQL syntax error: ${message}`;
    throw usageError('sql.syntax', `${text}${where ? ` at ${where.label}` : ''}`, {
      position,
      detail: where?.excerpt,
      sqlState: '42601',
      hint: 'fix the SQL; nothing was sent to the database',
    });
  }
  return (result.stmts ?? []).map((entry) => {
    const start = entry.stmt_location ?? 0;
    const end = entry.stmt_len ? start + entry.stmt_len : bytes.length;
    const raw = bytes.toString('utf8', start, end);
    const leading = leadingSpace(raw);
    let text = trimEndSpace(raw.slice(leading));
    if (text.endsWith(';')) text = trimEndSpace(text.slice(0, -1));
    const [type, node] = Object.entries(entry.stmt)[0] as [string, Record<string, unknown>];
    return {
      text,
      offset: charOffset(start) + leading,
      type,
      node,
    };
  });
}

/** Tokenizes SQL (used to find keywords such as RETURNING that the tree does not locate). */
export async function scanTokens(sql: string): Promise<Token[]> {
  const lib = await load();
  const charOffset = charOffsets(Buffer.from(sql, 'utf8'));
  const result = call(() => lib.scanSync(sql)) as {
    tokens: { start: number; end: number; text: string; tokenName: string; keywordKind: number }[];
  };
  return result.tokens.map((token) => ({
    start: charOffset(token.start),
    end: charOffset(token.end),
    text: token.text,
    kind: token.keywordKind > 0 ? token.text.toUpperCase() : token.tokenName,
  }));
}

// Only what PostgreSQL's lexer counts as white space is trimmed. JavaScript's trim() also removes
// characters such as U+00A0 and U+FEFF that PostgreSQL reads as part of an identifier, and then the
// text sent would not be the text that was checked.
const isSpace = (code: number) => code === 0x20 || (code >= 0x09 && code <= 0x0d);

function leadingSpace(text: string): number {
  let index = 0;
  while (index < text.length && isSpace(text.charCodeAt(index))) index++;
  return index;
}

function trimEndSpace(text: string): string {
  let end = text.length;
  while (end > 0 && isSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(0, end);
}

/**
 * Converts byte offsets into the UTF-8 text to string offsets. Offsets asked for in increasing
 * order cost time linear in the text overall (decoding from the start each time was quadratic:
 * minutes for a megabyte of short statements).
 */
function charOffsets(bytes: Buffer): (byteOffset: number) => number {
  let byte = 0;
  let char = 0;
  return (byteOffset) => {
    if (byteOffset < byte) {
      byte = 0;
      char = 0;
    }
    char += bytes.toString('utf8', byte, byteOffset).length;
    byte = byteOffset;
    return char;
  };
}

/** The string offset of the character at a code-point index (emoji take two string positions). */
function codePointOffset(text: string, index: number): number {
  let offset = 0;
  for (let count = 0; count < index && offset < text.length; count++) {
    offset += (text.codePointAt(offset) ?? 0) > 0xffff ? 2 : 1;
  }
  return offset;
}

/** Where a 1-based position falls: "line 2, column 7", and the line with a caret under it. */
export function locate(
  sql: string,
  position: number | undefined,
): { label: string; excerpt: string } | undefined {
  if (position === undefined) return undefined;
  const before = sql.slice(0, position - 1);
  const line = before.split('\n').length;
  const column = position - 1 - before.lastIndexOf('\n');
  const text = sql.split('\n')[line - 1] ?? '';
  // Long lines (minified SQL) are cut around the error so the caret stays on screen.
  const from = Math.max(0, column - 60);
  const shown = text.slice(from, from + 120);
  return { label: `line ${line}, column ${column}`, excerpt: `${shown}\n${' '.repeat(column - 1 - from)}^` };
}
