// Tab completion from the live catalog: keywords, schemas, tables and views, their columns once a
// statement names the table, and meta-commands. The catalog is read once, on the first Tab (not
// at start-up: most sessions never press it), and columns per table on first need. The words
// before the cursor are read with PostgreSQL's scanner, so quotes and comments cannot confuse it.

import type { Token } from '../sql/parser.js';
import { tokensOf } from './splitter.js';

export interface Relation {
  schema: string;
  name: string;
}

export interface CatalogSource {
  relations(): Promise<{ schemas: string[]; relations: Relation[] }>;
  columns(relation: Relation): Promise<string[]>;
}

const KEYWORDS = [
  'SELECT',
  'FROM',
  'WHERE',
  'AND',
  'OR',
  'NOT',
  'NULL',
  'IS',
  'IN',
  'EXISTS',
  'BETWEEN',
  'LIKE',
  'ILIKE',
  'AS',
  'JOIN',
  'LEFT',
  'RIGHT',
  'INNER',
  'OUTER',
  'FULL',
  'CROSS',
  'ON',
  'USING',
  'GROUP',
  'BY',
  'ORDER',
  'HAVING',
  'LIMIT',
  'OFFSET',
  'DISTINCT',
  'UNION',
  'ALL',
  'EXCEPT',
  'INTERSECT',
  'WITH',
  'CASE',
  'WHEN',
  'THEN',
  'ELSE',
  'END',
  'ASC',
  'DESC',
  'COUNT',
  'INSERT',
  'INTO',
  'VALUES',
  'UPDATE',
  'SET',
  'DELETE',
  'RETURNING',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'EXPLAIN',
  'ANALYZE',
  'TRUE',
  'FALSE',
  'CAST',
  'COALESCE',
  'NOW()',
  'INTERVAL',
  'LATERAL',
  'TABLE',
  'SHOW',
];

/** Keywords after which a table (or schema) name comes. */
const TABLE_CONTEXT = new Set(['FROM', 'JOIN', 'UPDATE', 'INTO', 'TABLE', 'DESCRIBE']);

export class Completion {
  readonly #source: CatalogSource;
  readonly #metaCommands: string[];
  #catalog: Promise<{ schemas: string[]; relations: Relation[] }> | undefined;
  readonly #columns = new Map<string, Promise<string[]>>();

  constructor(source: CatalogSource, metaCommands: string[]) {
    this.#source = source;
    this.#metaCommands = metaCommands;
  }

  /** Candidates for the word before the cursor; `before` is the statement typed on earlier lines. */
  async complete(before: string, line: string): Promise<[string[], string]> {
    const word = /[A-Za-z0-9_."$\\]*$/.exec(line)?.[0] ?? '';
    const head = line.slice(0, line.length - word.length);
    if (word.startsWith('\\') && !before.trim() && !head.trim()) {
      return [this.#metaCommands.filter((name) => name.startsWith(word)), word];
    }
    const metaTable = /^\s*\\d[t+]*\s+$/.test(head) && !before.trim();
    const tokens = (await tokensOf(`${before}\n${head}`)) ?? [];
    const previous = lastWord(tokens);
    const wantsTable = metaTable || (previous !== undefined && TABLE_CONTEXT.has(previous));
    const catalog = await this.#loadCatalog();
    const candidates: string[] = [];
    if (wantsTable || word.includes('.')) {
      const dot = word.lastIndexOf('.');
      if (dot >= 0) {
        const schema = unquote(word.slice(0, dot));
        for (const relation of catalog.relations) {
          if (relation.schema === schema)
            candidates.push(`${word.slice(0, dot + 1)}${quoteIdent(relation.name)}`);
        }
      } else {
        for (const relation of catalog.relations) candidates.push(quoteIdent(relation.name));
        for (const schema of catalog.schemas) candidates.push(`${quoteIdent(schema)}.`);
      }
    } else {
      for (const relation of mentionedRelations(tokens, catalog.relations)) {
        for (const column of await this.#loadColumns(relation)) candidates.push(quoteIdent(column));
      }
      const lower = word === word.toLowerCase();
      for (const keyword of KEYWORDS) candidates.push(lower ? keyword.toLowerCase() : keyword);
      if (!previous || previous === 'SELECT')
        for (const r of catalog.relations) candidates.push(quoteIdent(r.name));
    }
    const matches = [...new Set(candidates.filter((candidate) => candidate.startsWith(word)))].sort();
    return [matches, word];
  }

  #loadCatalog() {
    this.#catalog ??= this.#source.relations().catch((error: unknown) => {
      this.#catalog = undefined;
      throw error;
    });
    return this.#catalog;
  }

  #loadColumns(relation: Relation): Promise<string[]> {
    const key = `${relation.schema}.${relation.name}`;
    let columns = this.#columns.get(key);
    if (!columns) {
      columns = this.#source.columns(relation).catch(() => {
        this.#columns.delete(key);
        return [];
      });
      this.#columns.set(key, columns);
    }
    return columns;
  }
}

function lastWord(tokens: Token[]): string | undefined {
  for (let index = tokens.length - 1; index >= 0; index--) {
    const token = tokens[index]!;
    if (token.kind === 'SQL_COMMENT' || token.kind === 'C_COMMENT') continue;
    return /^[A-Z_]+$/.test(token.kind) && token.kind !== 'IDENT' ? token.kind : token.text;
  }
  return undefined;
}

/** Tables the statement names after FROM, JOIN, UPDATE or INTO, as the catalog knows them. */
function mentionedRelations(tokens: Token[], relations: Relation[]): Relation[] {
  const found: Relation[] = [];
  for (let index = 0; index < tokens.length - 1; index++) {
    if (!TABLE_CONTEXT.has(tokens[index]!.kind)) continue;
    let name = identText(tokens[index + 1]!);
    let schema: string | undefined;
    if (tokens[index + 2]?.kind === 'ASCII_46' && tokens[index + 3]) {
      schema = name;
      name = identText(tokens[index + 3]!);
    }
    const relation =
      relations.find((r) => r.name === name && (schema === undefined || r.schema === schema)) ?? undefined;
    if (relation && !found.includes(relation)) found.push(relation);
  }
  return found;
}

function identText(token: Token): string {
  if (token.text.startsWith('"')) return unquote(token.text);
  return token.text.toLowerCase();
}

function unquote(name: string): string {
  return name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name;
}

function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}
