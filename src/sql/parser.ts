// PostgreSQL's own parser (libpg-query, compiled to WebAssembly), loaded on first use so that
// commands which never parse SQL do not pay for it. The parser reports byte offsets into the UTF-8
// text; everything here converts them so that callers only ever see JavaScript string offsets.

import { usageError } from '../core/errors.js';

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

function load(): Promise<LibPgQuery> {
  loaded ??= import('libpg-query').then(async (lib) => {
    await lib.loadModule();
    return lib;
  });
  return loaded;
}

interface ParseError {
  sqlDetails?: { message: string; cursorPosition?: number };
  message?: string;
}

/** Splits and parses SQL. A syntax error becomes a usage error with the position marked. */
export async function parseStatements(sql: string): Promise<RawStatement[]> {
  const lib = await load();
  const bytes = Buffer.from(sql, 'utf8');
  let result: { stmts?: { stmt: PgNode; stmt_location?: number; stmt_len?: number }[] };
  try {
    result = lib.parseSync(sql) as typeof result;
  } catch (error) {
    const details = (error as ParseError).sqlDetails;
    const message = details?.message ?? (error as ParseError).message ?? String(error);
    const position =
      details?.cursorPosition === undefined ? undefined : charOffset(bytes, details.cursorPosition) + 1;
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
    const raw = bytes.subarray(start, end).toString('utf8');
    const leading = raw.length - raw.trimStart().length;
    const [type, node] = Object.entries(entry.stmt)[0] as [string, Record<string, unknown>];
    return {
      text: raw.trim().replace(/;$/, '').trimEnd(),
      offset: charOffset(bytes, start) + leading,
      type,
      node,
    };
  });
}

/** Tokenizes SQL (used to find keywords such as RETURNING that the tree does not locate). */
export async function scanTokens(sql: string): Promise<Token[]> {
  const lib = await load();
  const bytes = Buffer.from(sql, 'utf8');
  const result = lib.scanSync(sql) as {
    tokens: { start: number; end: number; text: string; tokenName: string; keywordKind: number }[];
  };
  return result.tokens.map((token) => ({
    start: charOffset(bytes, token.start),
    end: charOffset(bytes, token.end),
    text: token.text,
    kind: token.keywordKind > 0 ? token.text.toUpperCase() : token.tokenName,
  }));
}

function charOffset(bytes: Buffer, byteOffset: number): number {
  return bytes.subarray(0, byteOffset).toString('utf8').length;
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
