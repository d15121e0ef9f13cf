// Every name through which a statement can make the server run a function, read from the parse
// tree: calls, attribute notation (`(x).f` and `t.f` can be `f(x)`), operators (each is a function),
// casts (a type's input function, the casts into it, its domain constraints) and the relations it
// reads (a view runs its query, a table its row-level security policies). Names, not resolved
// functions: which function a name resolves to depends on types only the live server knows, so
// src/ops/function-policy.ts asks its catalog about every candidate.

import { attributeCallNames, hasExplainOption } from './guard.js';
import type { PgNode } from './parser.js';
import { walk } from './tree.js';

export interface QualifiedName {
  /** The schema the SQL names, or undefined when it leaves it to the search path. */
  schema?: string;
  name: string;
}

export interface ReachableNames {
  /** Functions called by name, with any number of arguments. */
  calls: QualifiedName[];
  /** Names that may be one-argument calls in attribute notation. */
  attributes: string[];
  operators: QualifiedName[];
  /** Types values are cast to (`x::t`, `CAST(x AS t)`, `t 'literal'`). */
  types: QualifiedName[];
  /** Relations read. */
  relations: QualifiedName[];
}

const strings = (list: unknown): string[] =>
  ((list as PgNode[] | undefined) ?? [])
    .map((item) => (item.String as { sval?: string } | undefined)?.sval)
    .filter((name): name is string => name !== undefined);

function qualified(parts: string[]): QualifiedName | undefined {
  const name = parts.at(-1);
  if (name === undefined) return undefined;
  // catalog.schema.name: the catalog can only be the current database.
  const schema = parts.length >= 2 ? parts[parts.length - 2] : undefined;
  return schema === undefined ? { name } : { schema, name };
}

// BETWEEN and its variants are two comparisons; the tree names the construct, not the operators.
const BETWEEN_OPERATORS = ['>=', '<=', '>', '<'];

/**
 * The names a statement's tree can reach. A plain EXPLAIN only plans its statement (PostgreSQL
 * evaluates no volatile function while planning), so only EXPLAIN ANALYZE, and the parameters of
 * EXPLAIN EXECUTE, count.
 */
export function reachableNames(type: string, node: Record<string, unknown>): ReachableNames {
  const found: ReachableNames = { calls: [], attributes: [], operators: [], types: [], relations: [] };
  const seen = new Set<string>();
  const add = <K extends keyof ReachableNames>(kind: K, value: ReachableNames[K][number] | undefined) => {
    if (value === undefined) return;
    const key = `${kind}\0${JSON.stringify(value)}`;
    if (seen.has(key)) return;
    seen.add(key);
    (found[kind] as unknown[]).push(value);
  };
  walk(rootOf(type, node), (nodeType, child) => {
    switch (nodeType) {
      case 'FuncCall':
        add('calls', qualified(strings(child.funcname)));
        break;
      case 'ColumnRef':
      case 'A_Indirection':
        for (const name of attributeCallNames(nodeType, child)) add('attributes', name);
        break;
      case 'A_Expr': {
        const kind = String(child.kind ?? '');
        if (kind.startsWith('AEXPR_BETWEEN') || kind.startsWith('AEXPR_NOT_BETWEEN')) {
          for (const name of BETWEEN_OPERATORS) add('operators', { name });
        } else {
          add('operators', qualified(strings(child.name)));
        }
        break;
      }
      case 'SubLink':
        add('operators', qualified(strings(child.operName)));
        break;
      case 'SortBy':
        add('operators', qualified(strings(child.useOp)));
        break;
      case 'CaseExpr':
        // CASE x WHEN y compares with =.
        if (child.arg) add('operators', { name: '=' });
        break;
      case 'TypeCast': {
        // A TypeCast's typeName is a bare TypeName (no node of its own in the tree).
        const typeName = child.typeName as { names?: unknown } | undefined;
        add('types', qualified(strings(typeName?.names)));
        break;
      }
      case 'RangeVar':
        add(
          'relations',
          typeof child.schemaname === 'string'
            ? { schema: child.schemaname, name: String(child.relname) }
            : { name: String(child.relname) },
        );
        break;
    }
  });
  return found;
}

function rootOf(type: string, node: Record<string, unknown>): unknown {
  if (type !== 'ExplainStmt' || hasExplainOption(node, 'analyze')) return { [type]: node };
  const query = node.query as PgNode | undefined;
  const execute = query?.ExecuteStmt as { params?: unknown } | undefined;
  return execute ? execute.params : undefined;
}

export function isEmpty(names: ReachableNames): boolean {
  return Object.values(names).every((list) => list.length === 0);
}
