// `coderdb audit`'s filters: which records an operator asked to see. Times are ISO dates or
// relative to now (`90m`, `1h`, `2d`, `1w`); text filters match exactly except identity, which
// matches any part of the ARN (a role or session name is what people remember).

import type { AuditEntry, AuditOutcome } from './audit.js';
import { usageError } from './errors.js';

export interface AuditFilter {
  since?: string;
  until?: string;
  profile?: string;
  identity?: string;
  /** One outcome or several, comma-separated. */
  outcome?: string;
  writes?: boolean;
  session?: string;
}

/** The outcomes only a write (or an undo, a restore) records. */
const WRITE_OUTCOMES: ReadonlySet<AuditOutcome> = new Set([
  'planned',
  'commit-pending',
  'committed',
  'rolled-back',
  'restored',
]);

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An ISO date or time, or a duration before `now`; one clear line for anything else. */
export function parseAuditTime(flag: string, value: string, now = Date.now()): number {
  const relative = /^(\d+)\s*([smhdw])$/.exec(value.trim());
  if (relative) return now - Number(relative[1]) * UNITS[relative[2]!]!;
  const time = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time)) {
    throw usageError('audit.bad-time', `${flag} "${value}" is neither an ISO date nor a duration`, {
      hint: 'e.g. 2026-12-01, 2026-12-01T14:00Z, 30m, 1h, 2d, 1w',
    });
  }
  return time;
}

export function auditPredicate(filter: AuditFilter): (entry: AuditEntry) => boolean {
  const since = filter.since === undefined ? undefined : parseAuditTime('--since', filter.since);
  const until = filter.until === undefined ? undefined : parseAuditTime('--until', filter.until);
  const outcomes = filter.outcome?.split(',').map((outcome) => outcome.trim());
  return (entry) => {
    const time = Date.parse(entry.time);
    if (since !== undefined && !(time >= since)) return false;
    if (until !== undefined && !(time <= until)) return false;
    if (filter.profile !== undefined && entry.profile !== filter.profile) return false;
    if (filter.identity !== undefined && !entry.identity?.includes(filter.identity)) return false;
    if (outcomes && !outcomes.includes(entry.outcome)) return false;
    if (filter.writes && !WRITE_OUTCOMES.has(entry.outcome)) return false;
    if (filter.session !== undefined && entry.session !== filter.session) return false;
    return true;
  };
}

/** A statement on one table line: whitespace runs (newlines too) as one space, cut at `width`. */
export function oneLine(text: string, width = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
}
