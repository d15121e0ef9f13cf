// Durations as operators type them for `coderdb connect --for 30m --idle 10m`: a whole number
// followed by s, m or h (or several of them: 1h30m).

import { usageError } from '../core/errors.js';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string, flag: string): number {
  const parts = /^(?:\d+[smh])+$/.test(text) ? [...text.matchAll(/(\d+)([smh])/g)] : [];
  const ms = parts.reduce((sum, [, count, unit]) => sum + Number(count) * (UNITS[unit as string] ?? 0), 0);
  if (parts.length === 0 || ms <= 0) {
    throw usageError('holder.duration', `${flag} takes a duration such as 90s, 30m or 1h30m, not "${text}"`);
  }
  return ms;
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes}m${seconds % 60}s` : `${minutes}m`;
  return minutes % 60 ? `${Math.floor(minutes / 60)}h${minutes % 60}m` : `${Math.floor(minutes / 60)}h`;
}
