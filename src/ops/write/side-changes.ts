// Rows a statement changes beyond the rows it names: triggers, rules and ON DELETE CASCADE write
// other tables (or other rows of the same one). The transaction's own per-table counters
// (pg_stat_xact_user_tables) count every row inserted, updated and deleted so far, including in
// rolled-back savepoints, so the difference around one run of a statement is exactly what it did.

import { quoteLiteral } from '../../sql/literal.js';
import type { Db } from '../db.js';
import { qualifiedName, type TableInfo } from './table.js';

export interface TableChange {
  /** Qualified table name. */
  table: string;
  inserted: number;
  updated: number;
  deleted: number;
}

export type Counters = Map<string, TableChange>;

export async function readCounters(db: Db): Promise<Counters> {
  const rows = await db.objects<TableChange>(
    `SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS table,
            n_tup_ins::int8 AS inserted, n_tup_upd::int8 AS updated, n_tup_del::int8 AS deleted
       FROM pg_stat_xact_user_tables`,
  );
  return new Map(rows.map((row) => [row.table, row]));
}

/** What changed between two readings, per table, tables without changes left out, sorted. */
export function countersDelta(before: Counters, after: Counters): TableChange[] {
  const changes: TableChange[] = [];
  for (const [table, now] of after) {
    const then = before.get(table);
    const change = {
      table,
      inserted: Number(now.inserted) - Number(then?.inserted ?? 0),
      updated: Number(now.updated) - Number(then?.updated ?? 0),
      deleted: Number(now.deleted) - Number(then?.deleted ?? 0),
    };
    if (change.inserted || change.updated || change.deleted) changes.push(change);
  }
  return changes.sort((a, b) => a.table.localeCompare(b.table));
}

/** The target table with its partitions and inheritance children, whose counters its rows move. */
export async function tableFamily(db: Db, table: TableInfo): Promise<Set<string>> {
  const rows = await db.objects<{ name: string }>(
    `WITH RECURSIVE family(oid) AS (
       SELECT to_regclass(${quoteLiteral(qualifiedName(table))})::oid
       UNION SELECT i.inhrelid FROM pg_inherits i JOIN family f ON i.inhparent = f.oid)
     SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
       FROM family f JOIN pg_class c ON c.oid = f.oid JOIN pg_namespace n ON n.oid = c.relnamespace`,
  );
  return new Set(rows.map((row) => row.name));
}

/**
 * The changes a statement made beyond its own rows: every other table's, and on its own table
 * (family) whatever exceeds the `direct` rows it reported (a trigger changing sibling rows).
 */
export function sideChanges(
  delta: TableChange[],
  family: Set<string>,
  direct: { inserted: number; updated: number; deleted: number },
): TableChange[] {
  const own = { table: [...family][0] ?? '', inserted: 0, updated: 0, deleted: 0 };
  const others: TableChange[] = [];
  for (const change of delta) {
    if (!family.has(change.table)) {
      others.push(change);
      continue;
    }
    own.inserted += change.inserted;
    own.updated += change.updated;
    own.deleted += change.deleted;
  }
  const extra = {
    table: own.table,
    inserted: Math.max(0, own.inserted - direct.inserted),
    updated: Math.max(0, own.updated - direct.updated),
    deleted: Math.max(0, own.deleted - direct.deleted),
  };
  if (extra.inserted || extra.updated || extra.deleted) others.unshift(extra);
  return others;
}

/** "3 rows of public.workspace_builds (2 inserted, 1 deleted)". */
export function describeChange(change: TableChange): string {
  const parts = [
    change.inserted ? `${change.inserted} inserted` : '',
    change.updated ? `${change.updated} updated` : '',
    change.deleted ? `${change.deleted} deleted` : '',
  ].filter(Boolean);
  const total = change.inserted + change.updated + change.deleted;
  return `${total} row${total === 1 ? '' : 's'} of ${change.table} (${parts.join(', ')})`;
}

export function sameChanges(a: TableChange[], b: TableChange[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
