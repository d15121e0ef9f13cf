// Whether an apply does what its plan showed: the same rows, with the same values in every column.
// One difference is allowed by construction: a value that is its own transaction's time in both
// (`updated_at = now()` shows the plan's time and writes the apply's). Anything else that differs
// (random(), clock_timestamp(), a value read from a row someone changed) refuses the apply.

import type { JsonValue } from '../../core/pgtypes.js';
import type { Db } from '../db.js';
import { keyOf, type RowImage } from './images.js';
import type { TableInfo } from './table.js';

/** The transaction's own time as row images carry it: timestamptz and timestamp. */
export type TransactionClock = [JsonValue, JsonValue];

export async function readClock(db: Db): Promise<TransactionClock> {
  const result = await db.all('SELECT to_jsonb(now())::text AS tz, to_jsonb(localtimestamp)::text AS local');
  const row = result.rows[0] ?? [];
  return [JSON.parse(row[0] ?? 'null') as JsonValue, JSON.parse(row[1] ?? 'null') as JsonValue];
}

function sameValue(
  planned: JsonValue | undefined,
  applied: JsonValue | undefined,
  clocks: { plan: TransactionClock; apply: TransactionClock } | undefined,
): boolean {
  if (JSON.stringify(planned) === JSON.stringify(applied)) return true;
  return !!clocks && clocks.plan.some((time, kind) => time === planned && clocks.apply[kind] === applied);
}

/**
 * The first way `applied` differs from `planned` (rows of one table, matched by primary key), as a
 * phrase naming the row and column but never a value; undefined when they are the same.
 */
export function firstDifference(
  table: TableInfo,
  planned: RowImage[],
  applied: RowImage[],
  /** Omitted: every value must be equal (images read before the write, not made by it). */
  clocks?: { plan: TransactionClock; apply: TransactionClock },
): string | undefined {
  const plannedByKey = new Map(planned.map((row) => [keyOf(table, row), row]));
  const appliedByKey = new Map(applied.map((row) => [keyOf(table, row), row]));
  for (const key of plannedByKey.keys()) {
    if (!appliedByKey.has(key)) return `row ${key} of ${table.name} is no longer there`;
  }
  for (const [key, row] of appliedByKey) {
    const expected = plannedByKey.get(key);
    if (!expected) return `row ${key} of ${table.name} was not in the plan`;
    const columns = new Set([...Object.keys(expected), ...Object.keys(row)]);
    for (const column of columns) {
      if (!sameValue(expected[column], row[column], clocks)) {
        return `column ${column} of row ${key} of ${table.name} differs from the plan`;
      }
    }
  }
  return undefined;
}
