// Where the values of credential columns go in a statement, read from PostgreSQL's own parse tree,
// so that coderdb can redact them by POSITION in the result (psql in the task reports no column
// origins, and names can be anything: `users u(a, b, c)`, `AS x`, VALUES' column1, unnest's unnest).
//
// The analysis resolves every column reference the way PostgreSQL does (innermost scope first,
// FROM items, their aliases and column-alias lists, subqueries, CTEs, joins with USING/NATURAL, set
// operations, VALUES), and follows each value by the position it occupies:
//
// - carrying positions pass the value on: the target list, VALUES cells, function and operator
//   arguments, casts, CASE results, scalar and ARRAY subqueries, functions in FROM. An output
//   column with a credential anywhere in a carrying position is redacted as a whole, whatever the
//   expression (`upper(token)`, `row_to_json(u)`, `string_agg(token, ',')`, `xmlforest(...)`);
// - testing positions turn the value into a boolean or a count and carry nothing: WHERE, ON,
//   HAVING, GROUP BY, ORDER BY, LIMIT, FILTER, CASE conditions, EXISTS/IN subqueries, comparison
//   operands (`=`, `<>`, LIKE, IS NULL, IS DISTINCT FROM, BETWEEN, IN), count() and length().
//   They can leak a bit per query to someone probing deliberately, which --show-secrets allows
//   anyway; they cannot expose a value by accident. Values they meet can still surface in an error
//   message (`hashed_password::int` in a WHERE), which is why `readsSecrets` makes the caller
//   scrub server messages.
//
// Whatever cannot be tied to positions is refused (`refusal`), never guessed: COPY of credentials
// (COPY's raw output cannot be redacted), two `*` expansions of unknown width of which only some
// carry a secret, FETCH from a cursor this run did not declare, FROM items the analysis does not
// know. The analysis needs column lists only behind `*`, whole rows and column-alias lists; it asks
// for them through `columnsOf`, and `needed` tells the caller which relations to look up (one
// catalog query) before running it again.

import { isSecretColumn } from '../ops/coder/secrets.js';
import { walk } from './tree.js';

type Node = Record<string, unknown>;

export interface RelationName {
  schema?: string;
  name: string;
}

/** A column of a source or of a result. */
export interface FlowColumn {
  name: string;
  /** Carries a credential: redact it. */
  secret: boolean;
  /**
   * A value that is a secret only in the rows whose column `keyedBy` (of the same source) says so:
   * site_configs.value by its key, pg_stats' sampled values by attname.
   */
  keyedBy?: string;
  /** The source column a plain reference stands for (through renames), to find its key beside it. */
  origin?: { source: object; column: string };
}

/** A run of result columns: known ones, or a `*` expansion whose width only the result tells. */
export type Segment = { columns: FlowColumn[] } | { unknownWidth: true; secret: boolean };

export interface SecretFlow {
  /** The result's columns, when the statement returns rows that the analysis can place. */
  output?: Segment[];
  /** Why the statement cannot be proven not to print a credential; refuse it. */
  refusal?: string;
  /** The statement reads a credential somewhere (even only to test it): scrub server messages. */
  readsSecrets: boolean;
  /** Relations whose column lists the analysis asked for and did not get. */
  needed: RelationName[];
  /** The cursor a DECLARE defines, with its columns, for a later FETCH in the same run. */
  declares?: { name: string; output: Segment[] };
}

export interface FlowInput {
  /** Ordered column names of a relation, or undefined when not (yet) known. */
  columnsOf(relation: RelationName): string[] | undefined;
  /** Cursors declared earlier in the same run. */
  cursors?: ReadonlyMap<string, Segment[]>;
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
    seen.set(relationKey(relation), relation);
  });
  return [...seen.values()];
}

export function relationKey(relation: RelationName): string {
  return `${relation.schema ?? ''}.${relation.name}`;
}

/** Where credentials flow in one statement (the fields of its top-level node, of type `type`). */
export function secretFlow(type: string, node: Node, input: FlowInput): SecretFlow {
  const analysis = new Analysis(input);
  const result: SecretFlow = { readsSecrets: false, needed: [] };
  try {
    switch (type) {
      case 'SelectStmt':
        result.output = analysis.select(node, undefined);
        break;
      case 'ExplainStmt':
        // A plan prints no values (EXPLAIN ANALYZE runs the query, but its rows are discarded).
        analysis.statement(node.query as Node | undefined);
        break;
      case 'DeclareCursorStmt': {
        const output = analysis.select(inner(node.query as Node), undefined);
        result.declares = { name: String(node.portalname), output };
        break;
      }
      case 'FetchStmt': {
        if (node.ismove) break;
        const declared = input.cursors?.get(String(node.portalname));
        if (!declared)
          analysis.refuse(`FETCH from cursor ${String(node.portalname)}, which this run did not declare`);
        else result.output = declared;
        break;
      }
      case 'CopyStmt':
        analysis.copy(node);
        break;
      default:
        // Other statements return no rows of a table (SHOW, SET …), or are writes, which coderdb
        // plans on their own path; still, note what they read for the messages.
        analysis.statement({ [type]: node });
        analysis.mentions(node);
    }
  } catch (error) {
    // The analysis recurses along the tree; SQL nested deeper than the stack is refused, not run.
    if (error instanceof RangeError)
      analysis.refusal ??= 'the SQL is nested too deeply to follow credentials through';
    else if (!(error instanceof Refusal)) throw error;
  }
  if (result.output) analysis.checkPlaceable(result.output);
  result.readsSecrets = analysis.readsSecrets;
  result.needed = [...analysis.needed.values()];
  if (analysis.refusal) result.refusal = analysis.refusal;
  return result;
}

/** Every column of the segments, when none has an unknown width. */
export function knownColumns(output: Segment[]): FlowColumn[] | undefined {
  const columns: FlowColumn[] = [];
  for (const segment of output) {
    if (!('columns' in segment)) return undefined;
    columns.push(...segment.columns);
  }
  return columns;
}

/** Whether any column of the result may carry a credential. */
export function outputHasSecrets(output: Segment[]): boolean {
  return output.some((segment) =>
    'columns' in segment ? segment.columns.some((column) => column.secret || column.keyedBy) : segment.secret,
  );
}

/**
 * The segments laid over a result of `width` columns: one entry per column, or undefined when they
 * cannot be (the result has another width than the analysis found).
 */
export function placeColumns(output: Segment[], width: number): FlowColumn[] | undefined {
  const known = output.reduce((sum, segment) => sum + ('columns' in segment ? segment.columns.length : 0), 0);
  const unknown = output.filter((segment) => !('columns' in segment));
  if (unknown.length === 0) return known === width ? knownColumns(output) : undefined;
  if (known > width) return undefined;
  // checkPlaceable refused several unknown widths unless all agree; any split is then the same.
  const spread = width - known;
  const columns: FlowColumn[] = [];
  let left = spread;
  for (const segment of output) {
    if ('columns' in segment) columns.push(...segment.columns);
    else {
      const take = segment === unknown[unknown.length - 1] ? left : 0;
      left -= take;
      for (let i = 0; i < take; i++) columns.push({ name: '?', secret: segment.secret });
    }
  }
  return columns;
}

class Refusal extends Error {}

/** What a FROM item provides. */
interface Source {
  /** The name references use: its alias, else the relation's (or function's, or CTE's) name. */
  name: string;
  /** The relation's own name, for `schema.table.column`. */
  relname?: string;
  /** Known columns in order. */
  columns?: FlowColumn[];
  /** A base relation whose columns were not needed: a column's secrecy follows from its name. */
  base?: RelationName;
  /** Columns unknown (a function's result): every column is secret or none is. */
  opaqueSecret?: boolean;
  /** Column names known of an opaque source (its alias list). */
  opaqueNames?: string[];
}

/** What a FROM item makes visible, and what `*` expands it into. */
interface FromItem {
  sources: Source[];
  star(): Segment[];
}

interface Scope {
  sources: Source[];
  items: FromItem[];
  ctes: Map<string, Segment[] | Source>;
  parent: Scope | undefined;
}

/** Functions whose result is a count, a length or a truth value, whatever their argument. */
const TESTING_FUNCTIONS = new Set([
  'count',
  'length',
  'char_length',
  'character_length',
  'octet_length',
  'bit_length',
  'num_nulls',
  'num_nonnulls',
  'pg_column_size',
  'bool_and',
  'bool_or',
  'every',
]);

/** Operators that compare their operands and return a boolean. */
const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=', '~~', '!~~', '~~*', '!~~*']);
const REGEX_MATCH = new Set(['~', '!~', '~*', '!~*']);

const TESTING_EXPRESSIONS = new Set([
  'AEXPR_DISTINCT',
  'AEXPR_NOT_DISTINCT',
  'AEXPR_IN',
  'AEXPR_LIKE',
  'AEXPR_ILIKE',
  'AEXPR_SIMILAR',
  'AEXPR_BETWEEN',
  'AEXPR_NOT_BETWEEN',
  'AEXPR_BETWEEN_SYM',
  'AEXPR_NOT_BETWEEN_SYM',
]);

/** Functions that read a whole table (or more) given by name, which the tree does not show. */
const TABLE_BY_NAME = new Set(['table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema']);
const READS_BY_NAME = /^(cursor|schema|database)_to_xml/;

/** Statistics views whose sampled values are column values. */
const STATS_VALUES = new Set(['most_common_vals', 'histogram_bounds', 'most_common_elems']);

/** How a column of a base relation carries secrets, by the relation's and the column's names. */
function baseColumn(relation: string, column: string, source: object): FlowColumn {
  const origin = { source, column };
  if (isSecretColumn(column)) return { name: column, secret: true, origin };
  if (relation === 'site_configs' && column === 'value')
    return { name: column, secret: false, keyedBy: 'key', origin };
  if (relation === 'pg_stats' && STATS_VALUES.has(column))
    return { name: column, secret: false, keyedBy: 'attname', origin };
  if ((relation === 'pg_stats_ext' || relation === 'pg_stats_ext_exprs') && STATS_VALUES.has(column))
    return { name: column, secret: true, origin };
  if (relation === 'pg_statistic' && /^stavalues[1-5]$/.test(column))
    return { name: column, secret: true, origin };
  if (relation === 'pg_statistic_ext_data' && /^stxd(mcv|expr)$/.test(column))
    return { name: column, secret: true, origin };
  return { name: column, secret: false, origin };
}

const isCarrier = (column: FlowColumn) => column.secret || column.keyedBy !== undefined;

interface Flow {
  secret: boolean;
  /** The column a bare reference stands for. */
  plain?: FlowColumn;
}

const CLEAN: Flow = { secret: false };

/** How deep the analysis follows the tree by recursion. */
const MAX_DEPTH = 400;

class Analysis {
  depth = 0;
  readsSecrets = false;
  refusal: string | undefined;
  readonly needed = new Map<string, RelationName>();

  constructor(private readonly input: FlowInput) {}

  refuse(reason: string): never {
    this.refusal ??= reason;
    throw new Refusal(reason);
  }

  /** Any statement: its queries, for what they read. */
  statement(node: Node | undefined): void {
    if (!node) return;
    walk(node, (type, child) => {
      if (type === 'SelectStmt') this.select(child, undefined);
    });
  }

  /**
   * Outside a SELECT (a write's SET, WHERE, VALUES), any mention of a credential column, a whole
   * row or a table whose values are keyed counts as reading one.
   */
  mentions(node: Node): void {
    const sources = new Set<string>();
    walk(node, (type, child) => {
      if (type !== 'RangeVar') return;
      const relname = String(child.relname);
      sources.add(aliasName(child) ?? relname);
      if (relname === 'site_configs' || relname.startsWith('pg_stat')) this.readsSecrets = true;
    });
    walk(node, (type, child) => {
      if (type !== 'ColumnRef') return;
      const names = fieldNames(child);
      const last = names.at(-1);
      if (endsWithStar(child) || (last && isSecretColumn(last)) || (names.length === 1 && sources.has(last!)))
        this.readsSecrets = true;
    });
  }

  copy(node: Node): void {
    let output: Segment[];
    if (node.query) output = this.select(inner(node.query as Node), undefined);
    else {
      const scope = newScope(undefined);
      const source = this.rangeVar(node.relation as Node, scope, true);
      const wanted = ((node.attlist as Node[] | undefined) ?? []).map(stringValue);
      const columns = this.expand(source);
      output =
        wanted.length > 0
          ? [{ columns: wanted.map((name) => this.columnOf(source, name) ?? { name, secret: true }) }]
          : columns;
    }
    if (outputHasSecrets(output)) {
      this.readsSecrets = true;
      this.refuse('COPY would print credential columns, and its raw output cannot be redacted');
    }
  }

  /** Refuses a result whose columns could not be told apart. */
  checkPlaceable(output: Segment[]): void {
    const unknown = output.filter((segment) => !('columns' in segment)) as { secret: boolean }[];
    if (unknown.length > 1 && unknown.some((segment) => segment.secret !== unknown[0]!.secret)) {
      this.refusal ??=
        'the result expands several rows of unknown width with `*`, only some of which carry credentials, so coderdb cannot tell which columns to redact';
    }
  }

  /** A SELECT (or VALUES, or set operation): its result columns. */
  select(node: Node, parent: Scope | undefined): Segment[] {
    if (this.depth > MAX_DEPTH) return [{ unknownWidth: true, secret: this.deep(node) }];
    this.depth += 1;
    try {
      return this.selectAt(node, parent);
    } finally {
      this.depth -= 1;
    }
  }

  selectAt(node: Node, parent: Scope | undefined): Segment[] {
    const scope = newScope(parent);
    this.withClause(node.withClause as Node | undefined, scope);
    if (node.op && node.op !== 'SETOP_NONE') {
      const left = this.select(inner(node.larg as Node), scope);
      const right = this.select(inner(node.rarg as Node), scope);
      this.testing(node.sortClause, scope);
      this.testing(node.limitCount, scope);
      this.testing(node.limitOffset, scope);
      return combine(left, right);
    }
    if (node.valuesLists) {
      const rows = (node.valuesLists as Node[]).map((row) => listItems(row));
      const width = Math.max(0, ...rows.map((row) => row.length));
      const columns: FlowColumn[] = [];
      for (let i = 0; i < width; i++) {
        const secret = rows.some((row) => this.carry(row[i], scope));
        columns.push({ name: `column${i + 1}`, secret });
      }
      this.testing(node.sortClause, scope);
      this.testing(node.limitCount, scope);
      this.testing(node.limitOffset, scope);
      return [{ columns }];
    }
    for (const entry of (node.fromClause as Node[] | undefined) ?? []) {
      const item = this.fromItem(entry, scope);
      scope.items.push(item);
      scope.sources.push(...item.sources);
    }
    const output: Segment[] = [];
    for (const entry of (node.targetList as Node[] | undefined) ?? []) {
      const target = entry.ResTarget as Node;
      output.push(...this.target(target, scope));
    }
    for (const clause of [
      node.whereClause,
      node.groupClause,
      node.havingClause,
      node.sortClause,
      node.limitCount,
      node.limitOffset,
      node.distinctClause,
      node.windowClause,
    ])
      this.testing(clause, scope);
    return output;
  }

  withClause(clause: Node | undefined, scope: Scope): void {
    if (!clause) return;
    for (const entry of (clause.ctes as Node[] | undefined) ?? []) {
      const cte = entry.CommonTableExpr as Node;
      const name = String(cte.ctename);
      const names = ((cte.aliascolnames as Node[] | undefined) ?? []).map(stringValue);
      const query = inner(cte.ctequery as Node);
      if (!('targetList' in query) && !('valuesLists' in query) && !('op' in query)) {
        // A data-modifying CTE: its RETURNING is where values go.
        this.statement(cte.ctequery as Node);
        scope.ctes.set(name, { name, opaqueSecret: true });
        continue;
      }
      if (clause.recursive) {
        // The recursive term reads the CTE itself: start from the first term, then repeat until no
        // column gains a secret (each round adds one at least, so the columns bound the rounds).
        const first =
          query.op && query.op !== 'SETOP_NONE' ? this.select(inner(query.larg as Node), scope) : [];
        let current = renamed(first, names);
        for (let round = 0; round < 64; round++) {
          scope.ctes.set(name, current);
          const next = renamed(combine(current, this.select(query, scope)), names);
          if (sameSecrets(next, current)) break;
          current = next;
        }
        scope.ctes.set(name, current);
      } else {
        scope.ctes.set(name, renamed(this.select(query, scope), names));
      }
    }
  }

  /** The result columns one target list entry produces. */
  target(target: Node, scope: Scope): Segment[] {
    const value = target.val as Node;
    const ref = value.ColumnRef as Node | undefined;
    if (ref && endsWithStar(ref)) {
      const names = fieldNames(ref);
      if (names.length === 0) return scope.items.flatMap((item) => item.star());
      const source = findSource(scope, names[names.length - 1]!, names.length > 1 ? names : undefined);
      if (!source) return [{ unknownWidth: true, secret: true }];
      return this.expand(source);
    }
    const indirection = value.A_Indirection as Node | undefined;
    const indices = (indirection?.indirection as Node[] | undefined) ?? [];
    if (indirection && indices.length > 0 && 'A_Star' in indices[indices.length - 1]!) {
      // (composite).*: a whole row expands into its columns; another composite, into unknown ones.
      const arg = indirection.arg as Node;
      const argRef = arg.ColumnRef as Node | undefined;
      if (indices.length === 1 && argRef && !endsWithStar(argRef)) {
        const names = fieldNames(argRef);
        const source = names.length === 1 ? wholeRowSource(scope, names[0]!) : undefined;
        if (source) return this.expand(source);
      }
      return [{ unknownWidth: true, secret: this.carry(arg, scope) }];
    }
    const flow = this.expr(value, scope);
    const name = typeof target.name === 'string' ? target.name : derivedName(value);
    const column: FlowColumn = { name, secret: flow.secret || isSecretColumn(name) };
    if (flow.plain && !flow.secret) {
      if (flow.plain.keyedBy) column.keyedBy = flow.plain.keyedBy;
      if (flow.plain.origin) column.origin = flow.plain.origin;
    }
    return [{ columns: [column] }];
  }

  /** The columns of a source, for `*`. */
  expand(source: Source): Segment[] {
    const columns = this.loadColumns(source);
    if (!columns) return [{ unknownWidth: true, secret: source.opaqueSecret ?? true }];
    if (columns.some(isCarrier)) this.readsSecrets = true;
    return [{ columns }];
  }

  /** A source's columns, asking for a base relation's when they were not loaded yet. */
  loadColumns(source: Source): FlowColumn[] | undefined {
    if (source.columns) return source.columns;
    if (!source.base) return undefined;
    const names = this.input.columnsOf(source.base);
    if (!names) {
      this.needed.set(relationKey(source.base), source.base);
      return undefined;
    }
    source.columns = names.map((name) => baseColumn(source.base!.name, name, source));
    return source.columns;
  }

  columnOf(source: Source, name: string): FlowColumn | undefined {
    if (source.columns) return source.columns.find((column) => column.name === name);
    if (source.base) return baseColumn(source.base.name, name, source);
    if (source.opaqueSecret !== undefined) return { name, secret: source.opaqueSecret };
    return undefined;
  }

  fromItem(item: Node, scope: Scope): FromItem {
    const [type, node] = Object.entries(item)[0] as [string, Node];
    if (type === 'JoinExpr') return this.join(node, scope);
    if (type === 'RangeTableSample') return this.fromItem(node.relation as Node, scope);
    const source = this.fromSource(type, node, scope);
    return { sources: [source], star: () => this.expand(source) };
  }

  fromSource(type: string, node: Node, scope: Scope): Source {
    switch (type) {
      case 'RangeVar':
        return this.rangeVar(node, scope, false);
      case 'RangeSubselect': {
        const output = this.select(inner(node.subquery as Node), scope);
        return aliased(sourceOf(output, aliasName(node) ?? 'subquery'), node.alias as Node | undefined);
      }
      case 'RangeFunction': {
        let secret = false;
        let name = 'function';
        for (const entry of (node.functions as Node[] | undefined) ?? []) {
          const [call] = listItems(entry);
          if (call?.FuncCall) name = functionName(call.FuncCall as Node) ?? name;
          if (this.carry(call, scope)) secret = true;
        }
        const names = ((node.alias as Node | undefined)?.colnames as Node[] | undefined)?.map(stringValue);
        const source: Source = { name: aliasName(node) ?? name, opaqueSecret: secret };
        if (names) source.opaqueNames = names;
        if (secret) this.readsSecrets = true;
        return source;
      }
      case 'RangeTableFunc':
      case 'JsonTable': {
        let secret = false;
        for (const key of ['docexpr', 'rowexpr', 'namespaces', 'context_item', 'passing'])
          if (this.carry(node[key], scope)) secret = true;
        if (secret) this.readsSecrets = true;
        return { name: aliasName(node) ?? 'table', opaqueSecret: secret };
      }
      default:
        return this.refuse(`coderdb cannot follow credentials through ${type} in FROM`);
    }
  }

  rangeVar(node: Node, scope: Scope, forCopy: boolean): Source {
    const relname = String(node.relname);
    const schema = typeof node.schemaname === 'string' ? node.schemaname : undefined;
    const cte = schema || forCopy ? undefined : findCte(scope, relname);
    let source: Source;
    if (cte) source = 'name' in cte ? { ...cte } : sourceOf(cte, relname);
    else {
      source = { name: relname, relname, base: { ...(schema ? { schema } : {}), name: relname } };
    }
    source.name = aliasName(node) ?? relname;
    source.relname = relname;
    const colnames = (node.alias as Node | undefined)?.colnames as Node[] | undefined;
    if (colnames?.length) {
      // A column-alias list renames by position: the columns must be known.
      const columns = this.loadColumns(source);
      if (columns) source.columns = renameColumns(columns, colnames.map(stringValue));
      else {
        // Not known (yet): any column may be any of them.
        delete source.base;
        source.opaqueSecret = true;
        source.opaqueNames = colnames.map(stringValue);
      }
    }
    return source;
  }

  /**
   * A join: both sides stay visible by their names (unless the join has an alias), and `*` shows
   * the columns USING (or NATURAL) merges once, first, then the rest of each side.
   */
  join(node: Node, scope: Scope): FromItem {
    const left = this.fromItem(node.larg as Node, scope);
    const right = this.fromItem(node.rarg as Node, scope);
    const joinScope: Scope = {
      sources: [...left.sources, ...right.sources],
      items: [],
      ctes: new Map(),
      parent: scope,
    };
    this.testing(node.quals, joinScope);
    const using = ((node.usingClause as Node[] | undefined) ?? []).map(stringValue);
    const star = (): Segment[] => {
      const a = knownColumns(left.star());
      const b = knownColumns(right.star());
      const merge = [...using];
      if (node.isNatural && a && b)
        merge.push(...a.filter((c) => b.some((r) => r.name === c.name)).map((c) => c.name));
      if (merge.length === 0) return [...left.star(), ...right.star()];
      if (!a || !b)
        return [{ unknownWidth: true, secret: outputHasSecrets([...left.star(), ...right.star()]) }];
      const pick = (columns: FlowColumn[], name: string) => columns.find((c) => c.name === name);
      return [
        {
          columns: [
            ...merge.map((name) => {
              const x = pick(a, name);
              const y = pick(b, name);
              return { name, secret: Boolean((x && isCarrier(x)) || (y && isCarrier(y))) };
            }),
            ...a.filter((c) => !merge.includes(c.name)),
            ...b.filter((c) => !merge.includes(c.name)),
          ],
        },
      ];
    };
    const alias = aliasName(node);
    if (!alias) return { sources: [...left.sources, ...right.sources], star };
    const source = aliased(sourceOf(star(), alias), node.alias as Node);
    return { sources: [source], star: () => this.expand(source) };
  }

  /** Clauses whose values are only tested: they carry nothing, but are read. */
  testing(value: unknown, scope: Scope): void {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) for (const item of value) this.testing(item, scope);
    else this.expr(value as Node, scope);
  }

  /** Whether an expression's value carries a credential; records what it reads. */
  expr(value: unknown, scope: Scope): Flow {
    if (this.depth > MAX_DEPTH) return { secret: this.deep(value) };
    this.depth += 1;
    try {
      return this.exprAt(value, scope);
    } finally {
      this.depth -= 1;
    }
  }

  /** Whether the value carries a credential, keyed ones included (they lose their key here). */
  carry(value: unknown, scope: Scope): boolean {
    const flow = this.expr(value, scope);
    return flow.secret || flow.plain?.keyedBy !== undefined;
  }

  /**
   * Past MAX_DEPTH the tree is not followed (the stack would not hold it): a part that refers to
   * any column or whole row at all counts as carrying a credential.
   */
  deep(value: unknown): boolean {
    let refers = false;
    walk(value, (type) => {
      if (type === 'ColumnRef' || type === 'RangeVar' || type === 'FuncCall') refers = true;
    });
    if (refers) this.readsSecrets = true;
    return refers;
  }

  exprAt(value: unknown, scope: Scope): Flow {
    if (!value || typeof value !== 'object') return CLEAN;
    if (Array.isArray(value)) {
      let secret = false;
      for (const item of value) if (this.carry(item, scope)) secret = true;
      return { secret };
    }
    const entries = Object.entries(value as Node);
    if (entries.length !== 1 || !/^[A-Z]/.test(entries[0]![0])) return this.children(value as Node, scope);
    const [type, node] = entries[0] as [string, Node];
    switch (type) {
      case 'ColumnRef':
        return this.columnRef(node, scope);
      case 'A_Const':
      case 'ParamRef':
      case 'SQLValueFunction':
        return CLEAN;
      case 'SelectStmt': {
        const output = this.select(node, scope);
        return { secret: outputHasSecrets(output) };
      }
      case 'SubLink': {
        const output = this.select(inner(node.subselect as Node), scope);
        const kind = String(node.subLinkType);
        if (kind === 'EXPR_SUBLINK' || kind === 'ARRAY_SUBLINK' || kind === 'MULTIEXPR_SUBLINK')
          return { secret: outputHasSecrets(output) };
        this.expr(node.testexpr, scope);
        return CLEAN;
      }
      case 'NullTest':
      case 'BooleanTest':
      case 'BoolExpr':
        this.children(node, scope);
        return CLEAN;
      case 'A_Expr': {
        const kind = String(node.kind);
        const op = ((node.name as Node[] | undefined) ?? []).map(stringValue).at(-1) ?? '';
        const infix = node.lexpr !== undefined && node.rexpr !== undefined;
        const compares =
          TESTING_EXPRESSIONS.has(kind) ||
          ((kind === 'AEXPR_OP' || kind === 'AEXPR_OP_ANY' || kind === 'AEXPR_OP_ALL') &&
            infix &&
            (COMPARISONS.has(op) || REGEX_MATCH.has(op)));
        const flow = this.children(node, scope);
        return compares ? CLEAN : { secret: flow.secret };
      }
      case 'CaseExpr': {
        this.expr(node.arg, scope);
        let secret = this.carry(node.defresult, scope);
        for (const when of (node.args as Node[] | undefined) ?? []) {
          const clause = when.CaseWhen as Node;
          this.expr(clause.expr, scope);
          if (this.carry(clause.result, scope)) secret = true;
        }
        return { secret };
      }
      case 'FuncCall':
        return this.functionCall(node, scope);
      case 'TypeCast':
      case 'CollateClause': {
        const flow = this.expr(node.arg, scope);
        return { secret: flow.secret || Boolean(flow.plain?.keyedBy) };
      }
      default: {
        const flow = this.children(node, scope);
        return { secret: flow.secret };
      }
    }
  }

  /** An expression made of its parts: it carries what any part carries. */
  children(node: Node, scope: Scope): Flow {
    let secret = false;
    for (const child of Object.values(node)) {
      if (!child || typeof child !== 'object') continue;
      const flow = this.expr(child, scope);
      if (flow.secret || flow.plain?.keyedBy) secret = true;
    }
    return { secret };
  }

  functionCall(node: Node, scope: Scope): Flow {
    const name = functionName(node) ?? '';
    const args = (node.args as Node[] | undefined) ?? [];
    this.testing(node.agg_filter, scope);
    this.testing(node.agg_order, scope);
    this.testing(node.over, scope);
    if (TABLE_BY_NAME.has(name)) {
      const relation = relationLiteral(args[0]);
      const columns = relation ? this.input.columnsOf(relation) : undefined;
      if (relation && !columns) this.needed.set(relationKey(relation), relation);
      const secret =
        !columns || columns.some((column) => isCarrier(baseColumn(relation!.name, column, node)));
      if (secret) this.readsSecrets = true;
      this.testing(args.slice(1), scope);
      return { secret };
    }
    if (READS_BY_NAME.test(name)) {
      this.readsSecrets = true;
      return { secret: true };
    }
    let secret = false;
    for (const arg of args) {
      const flow = this.expr(arg, scope);
      if (flow.secret || flow.plain?.keyedBy) secret = true;
    }
    return TESTING_FUNCTIONS.has(name) ? CLEAN : { secret };
  }

  columnRef(node: Node, scope: Scope): Flow {
    const names = fieldNames(node);
    const flow = this.resolve(names, endsWithStar(node), scope);
    if (flow.secret || flow.plain?.keyedBy) this.readsSecrets = true;
    return flow;
  }

  resolve(names: string[], star: boolean, scope: Scope): Flow {
    if (star) {
      // `t.*` inside an expression is t's whole row; a bare `*` (count(*) is no ColumnRef) as well.
      const source = names.length ? findSource(scope, names[names.length - 1]!, names) : undefined;
      return this.wholeRow(source, scope);
    }
    if (names.length === 1) {
      const name = names[0]!;
      for (let level: Scope | undefined = scope; level; level = level.parent) {
        // A name that is also a source's may be a whole row: only the column lists can tell.
        if (visibleSources(level).some((source) => source.name === name))
          for (const source of visibleSources(level)) this.loadColumns(source);
        let found: FlowColumn | undefined;
        let open: Source | undefined;
        for (const source of visibleSources(level)) {
          const column = source.columns?.find((c) => c.name === name);
          if (column) found ??= column;
          else if (!source.columns && (source.base || source.opaqueSecret !== undefined)) open ??= source;
        }
        if (found) return { secret: found.secret, plain: found };
        if (open) {
          // The open source may lack the column, which then comes from an outer query (renamed
          // there, perhaps): as secret as any outer column of that name.
          if (this.outerCarrier(level.parent, name)) return { secret: true };
          const column = this.columnOf(open, name)!;
          return { secret: column.secret, plain: column };
        }
        const whole = visibleSources(level).find((source) => source.name === name);
        if (whole) return this.wholeRow(whole, scope);
      }
      return { secret: isSecretColumn(name) };
    }
    const column = names[names.length - 1]!;
    const source = findSource(scope, names[names.length - 2]!, names.slice(0, -1));
    if (!source) return { secret: isSecretColumn(column) };
    const found = this.columnOf(source, column);
    if (!found) {
      // A column the analysis does not know of: as secret as the source may be.
      return { secret: isSecretColumn(column) || (source.columns ?? []).some(isCarrier) };
    }
    return { secret: found.secret, plain: found };
  }

  outerCarrier(scope: Scope | undefined, name: string): boolean {
    for (let level = scope; level; level = level.parent) {
      for (const source of level.sources) {
        const column = source.columns?.find((c) => c.name === name);
        if (column && isCarrier(column)) return true;
        if (!source.columns && source.opaqueSecret) return true;
        if (!source.columns && source.base && isCarrier(baseColumn(source.base.name, name, source)))
          return true;
      }
    }
    return false;
  }

  wholeRow(source: Source | undefined, _scope: Scope): Flow {
    if (!source) return { secret: true };
    const columns = this.loadColumns(source);
    const secret = columns ? columns.some(isCarrier) : (source.opaqueSecret ?? true);
    return { secret };
  }
}

function newScope(parent: Scope | undefined): Scope {
  return { sources: [], items: [], ctes: new Map(), parent };
}

function visibleSources(scope: Scope): Source[] {
  return scope.sources;
}

function findSource(scope: Scope, name: string, qualified: string[] | undefined): Source | undefined {
  for (let level: Scope | undefined = scope; level; level = level.parent) {
    for (const source of level.sources) {
      if (source.name === name) return source;
      if (qualified && qualified.length > 1 && source.relname === name && source.name === source.relname)
        return source;
    }
  }
  return undefined;
}

function wholeRowSource(scope: Scope, name: string): Source | undefined {
  return findSource(scope, name, undefined);
}

function findCte(scope: Scope, name: string): Segment[] | Source | undefined {
  for (let level: Scope | undefined = scope; level; level = level.parent) {
    const cte = level.ctes.get(name);
    if (cte) return cte;
  }
  return undefined;
}

/** A derived table of these result columns. */
function sourceOf(output: Segment[], name: string): Source {
  const columns = knownColumns(output);
  if (columns) return { name, columns: columns.map((column) => ({ ...column })) };
  return { name, opaqueSecret: outputHasSecrets(output) };
}

function aliased(source: Source, alias: Node | undefined): Source {
  const names = (alias?.colnames as Node[] | undefined)?.map(stringValue);
  if (names?.length) {
    if (source.columns) source.columns = renameColumns(source.columns, names);
    else source.opaqueNames = names;
  }
  return source;
}

function renameColumns(columns: FlowColumn[], names: string[]): FlowColumn[] {
  return columns.map((column, index) => (index < names.length ? { ...column, name: names[index]! } : column));
}

function renamed(output: Segment[], names: string[]): Segment[] {
  if (names.length === 0) return output;
  const columns = knownColumns(output);
  return columns ? [{ columns: renameColumns(columns, names) }] : output;
}

/** Both sides of a set operation, column by column. */
function combine(left: Segment[], right: Segment[]): Segment[] {
  const a = knownColumns(left);
  const b = knownColumns(right);
  if (a && b && a.length === b.length) {
    return [
      {
        columns: a.map((column, index) => {
          const other = b[index]!;
          const secret = column.secret || other.secret || Boolean(column.keyedBy || other.keyedBy);
          return { name: column.name, secret };
        }),
      },
    ];
  }
  return [{ unknownWidth: true, secret: outputHasSecrets(left) || outputHasSecrets(right) }];
}

function sameSecrets(a: Segment[], b: Segment[]): boolean {
  return JSON.stringify(a.map(secretsOf)) === JSON.stringify(b.map(secretsOf));
}

function secretsOf(segment: Segment): unknown {
  return 'columns' in segment ? segment.columns.map((c) => c.secret) : segment.secret;
}

/** A statement node wrapped as `{ SelectStmt: … }`, unwrapped. */
function inner(node: Node): Node {
  return (node.SelectStmt as Node | undefined) ?? node;
}

function listItems(node: Node | undefined): Node[] {
  return ((node?.List as Node | undefined)?.items as Node[] | undefined) ?? [];
}

function stringValue(node: Node): string {
  return String((node.String as Node | undefined)?.sval ?? '');
}

function fieldNames(ref: Node): string[] {
  return ((ref.fields as Node[] | undefined) ?? []).filter((field) => 'String' in field).map(stringValue);
}

function endsWithStar(ref: Node): boolean {
  const fields = (ref.fields as Node[] | undefined) ?? [];
  return fields.length > 0 && 'A_Star' in (fields[fields.length - 1] as Node);
}

function aliasName(node: Node): string | undefined {
  const alias = (node.alias as Node | undefined)?.aliasname;
  return typeof alias === 'string' ? alias : undefined;
}

function functionName(node: Node): string | undefined {
  const parts = (node.funcname as Node[] | undefined) ?? [];
  const last = parts.at(-1);
  return last ? stringValue(last).toLowerCase() : undefined;
}

/** The name PostgreSQL gives an unaliased result column (enough for references to find it). */
function derivedName(value: Node): string {
  const ref = value.ColumnRef as Node | undefined;
  if (ref) return fieldNames(ref).at(-1) ?? '?column?';
  const call = value.FuncCall as Node | undefined;
  if (call) return functionName(call) ?? '?column?';
  const cast = value.TypeCast as Node | undefined;
  if (cast) {
    const inside = derivedName(cast.arg as Node);
    if (inside !== '?column?') return inside;
    const names = ((cast.typeName as Node | undefined)?.names as Node[] | undefined) ?? [];
    return names.length ? stringValue(names[names.length - 1]!) : '?column?';
  }
  return '?column?';
}

/** A relation named by a string literal (`'users'`, `'public.users'::regclass`). */
function relationLiteral(node: Node | undefined): RelationName | undefined {
  let current = node;
  while (current?.TypeCast) current = (current.TypeCast as Node).arg as Node;
  const text = ((current?.A_Const as Node | undefined)?.sval as Node | undefined)?.sval;
  if (typeof text !== 'string' || !/^[a-z_][a-z0-9_$]*(\.[a-z_][a-z0-9_$]*)?$/i.test(text)) return undefined;
  const [first, second] = text.toLowerCase().split('.');
  return second ? { schema: first!, name: second } : { name: first! };
}
