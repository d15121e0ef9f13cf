// Where a credential column's value can surface under another name in a result: an alias
// (`hashed_password AS h`), an expression (`upper(token)`), a subquery or CTE column that carries
// one, or a whole row (`row_to_json(u)`, `to_jsonb(u.*)`, `SELECT u FROM users u`). Redaction goes
// by result column name, because psql in the task reports no column origins, so these are the
// names to redact besides the credential columns' own. It over-approximates, as redaction should:
// a name is tainted wherever in the statement it carries a secret.

import { walk } from './tree.js';

type Node = Record<string, unknown>;

/** What PostgreSQL names an unaliased expression when no column or function name applies. */
const FALLBACK_NAMES = [
  '?column?',
  'case',
  'coalesce',
  'greatest',
  'least',
  'nullif',
  'row',
  'array',
  'exists',
];

export interface RelationName {
  schema?: string;
  name: string;
}

/** The tables and views a statement reads, for the caller to look their columns up. */
export function referencedRelations(tree: unknown): RelationName[] {
  const seen = new Map<string, RelationName>();
  walk(tree, (type, node) => {
    if (type !== 'RangeVar' || typeof node.relname !== 'string') return;
    const relation: RelationName = {
      name: node.relname,
      ...(typeof node.schemaname === 'string' ? { schema: node.schemaname } : {}),
    };
    seen.set(`${relation.schema ?? ''}.${relation.name}`, relation);
  });
  return [...seen.values()];
}

/** Whether the statement turns a whole row into a value anywhere (which a name cannot reveal). */
export function hasWholeRowReference(tree: unknown): boolean {
  return wholeRowRefs(tree).size > 0;
}

/**
 * The result column names that may carry a secret. `isSecret` judges a column name; when
 * `wholeRowsAreSecret`, whole-row references count as secrets too (the caller found a credential
 * column among the relations the statement reads).
 */
export function secretDerivedNames(
  tree: unknown,
  isSecret: (name: string) => boolean,
  wholeRowsAreSecret: boolean,
): Set<string> {
  const targets: Node[] = [];
  walk(tree, (type, node) => {
    if (type === 'ResTarget' && node.val) targets.push(node);
  });
  const wholeRows = wholeRowsAreSecret ? wholeRowRefs(tree) : new Set<Node>();
  const tainted = new Set<string>();
  const carries = (value: unknown): boolean => {
    let found = false;
    walk(value, (type, node) => {
      if (type !== 'ColumnRef') return;
      const name = lastName(node);
      if (wholeRows.has(node) || (name !== undefined && (isSecret(name) || tainted.has(name)))) found = true;
    });
    return found;
  };
  // Each round taints at least one more target or ends; a chain of aliases is as long as the
  // number of targets at most.
  for (let round = 0; round <= targets.length; round++) {
    let grew = false;
    for (const target of targets) {
      if (!carries(target.val)) continue;
      for (const name of outputNames(target)) {
        if (!tainted.has(name)) {
          tainted.add(name);
          grew = true;
        }
      }
    }
    if (!grew) break;
  }
  return tainted;
}

/** The ColumnRef nodes that stand for whole rows rather than columns. */
function wholeRowRefs(tree: unknown): Set<Node> {
  const rowNames = new Set<string>();
  walk(tree, (type, node) => {
    if (type === 'RangeVar' && typeof node.relname === 'string') rowNames.add(node.relname);
    const alias = (node.alias as { aliasname?: unknown } | undefined)?.aliasname;
    if (
      (type === 'RangeVar' || type === 'RangeSubselect' || type === 'RangeFunction') &&
      typeof alias === 'string'
    )
      rowNames.add(alias);
    if (type === 'CommonTableExpr' && typeof node.ctename === 'string') rowNames.add(node.ctename);
  });
  // `t.*` directly in a target list expands into named columns; anywhere else it is one value.
  const expansions = new Set<Node>();
  walk(tree, (type, node) => {
    const ref = (node.val as { ColumnRef?: Node } | undefined)?.ColumnRef;
    if (type === 'ResTarget' && ref && endsWithStar(ref)) expansions.add(ref);
  });
  const refs = new Set<Node>();
  walk(tree, (type, node) => {
    if (type !== 'ColumnRef' || expansions.has(node)) return;
    const fields = (node.fields as Node[] | undefined) ?? [];
    const single = fields.length === 1 ? lastName(node) : undefined;
    if (endsWithStar(node) || (single !== undefined && rowNames.has(single))) refs.add(node);
  });
  return refs;
}

function endsWithStar(ref: Node): boolean {
  const fields = (ref.fields as Node[] | undefined) ?? [];
  return fields.length > 0 && 'A_Star' in (fields[fields.length - 1] as Node);
}

function lastName(ref: Node): string | undefined {
  const fields = (ref.fields as Node[] | undefined) ?? [];
  const last = fields[fields.length - 1] as { String?: { sval?: unknown } } | undefined;
  return typeof last?.String?.sval === 'string' ? last.String.sval : undefined;
}

/** Every name the target's result column could take: its alias, or what PostgreSQL derives. */
function outputNames(target: Node): string[] {
  if (typeof target.name === 'string') return [target.name];
  const names = new Set(FALLBACK_NAMES);
  walk(target.val, (type, node) => {
    if (type === 'String' && typeof node.sval === 'string') names.add(node.sval);
  });
  return [...names];
}
