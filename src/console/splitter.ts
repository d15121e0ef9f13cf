// Where statements typed into the console end. As in psql, a statement ends at a `;` outside
// quotes, comments, dollar quotes and parentheses, and may span lines. PostgreSQL's own scanner
// (libpg-query) reads the buffer, so a `;` inside `$$ … $$` or `'…'` never ends anything.

import { parseStatements, scanTokens, type Token } from '../sql/parser.js';

export interface Split {
  /** Complete statements, up to and including the last top-level `;`. */
  complete: string;
  /** What follows it: the start of the next statement, if anything. */
  rest: string;
}

/** The complete statements at the start of `buffer`, or undefined while more input is needed. */
export async function splitComplete(buffer: string): Promise<Split | undefined> {
  // Without a `;` nothing can be complete, and the scanner need not see an unfinished quote.
  if (!buffer.includes(';')) return undefined;
  const tokens = await tokensOf(buffer);
  if (!tokens) return undefined;
  let depth = 0;
  let end = -1;
  for (const token of tokens) {
    if (token.kind === 'ASCII_40') depth += 1;
    else if (token.kind === 'ASCII_41') depth = Math.max(0, depth - 1);
    else if (token.kind === 'ASCII_59' && depth === 0) end = token.end;
  }
  if (end < 0) return undefined;
  return { complete: buffer.slice(0, end), rest: buffer.slice(end) };
}

/** The buffer's tokens, or undefined when it ends inside a quote or comment (more is coming). */
export async function tokensOf(text: string): Promise<Token[] | undefined> {
  try {
    return await scanTokens(text);
  } catch {
    return undefined;
  }
}

const ROLE_STATEMENTS = new Set(['CreateRoleStmt', 'AlterRoleStmt']);

/** Whether SQL sets a password (CREATE/ALTER ROLE … PASSWORD): such text stays out of history. */
export async function setsPassword(text: string): Promise<boolean> {
  try {
    const statements = await parseStatements(text);
    return statements.some(
      (statement) =>
        ROLE_STATEMENTS.has(statement.type) &&
        ((statement.node.options as { DefElem?: { defname?: string } }[] | undefined) ?? []).some(
          (option) => option.DefElem?.defname === 'password',
        ),
    );
  } catch {
    // Text the parser refuses is judged by its words: better a missing history line than a leak.
    const tokens = await tokensOf(text);
    return !tokens || tokens.some((token) => token.kind === 'PASSWORD');
  }
}
