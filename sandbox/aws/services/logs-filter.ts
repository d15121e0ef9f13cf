// CloudWatch Logs filter patterns for unstructured events: space-separated terms that must all
// appear (case-sensitive), "quoted phrases", `?term` alternatives (any one suffices), `-term`
// exclusions, and `%regex%`. JSON (`{ $.x = … }`) and space-delimited (`[a, b]`) patterns are not
// emulated and are rejected, rather than silently matching everything.

import { AwsError } from '../errors.js';

export type EventMatcher = (message: string) => boolean;

function tokens(pattern: string): string[] {
  const out: string[] = [];
  const re = /([?-]?)"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(pattern); m; m = re.exec(pattern)) {
    if (m[3] !== undefined) out.push(m[3]);
    else out.push(`${m[1]}\u0000${m[2]!.replace(/\\(.)/g, '$1')}`);
  }
  return out;
}

export function compileFilterPattern(pattern: string | undefined): EventMatcher {
  const p = (pattern ?? '').trim();
  if (p === '' || p === '""') return () => true;
  if (p.startsWith('{') || p.startsWith('[')) {
    throw new AwsError(
      'InvalidParameterException',
      'sandbox: JSON and space-delimited filter patterns are not emulated; use terms.',
    );
  }
  const regex = /^%(.+)%$/.exec(p);
  if (regex) {
    let re: RegExp;
    try {
      re = new RegExp(regex[1]!);
    } catch {
      throw new AwsError('InvalidParameterException', 'Invalid filter pattern');
    }
    return (m) => re.test(m);
  }
  const required: string[] = [];
  const optional: string[] = [];
  const excluded: string[] = [];
  for (const raw of tokens(p)) {
    const quoted = raw.includes('\u0000');
    const sign = quoted
      ? raw.slice(0, raw.indexOf('\u0000'))
      : raw[0] === '?' || raw[0] === '-'
        ? raw[0]
        : '';
    const term = quoted ? raw.slice(raw.indexOf('\u0000') + 1) : raw.slice(sign.length);
    if (term === '') continue;
    (sign === '?' ? optional : sign === '-' ? excluded : required).push(term);
  }
  return (m) =>
    required.every((t) => m.includes(t)) &&
    (optional.length === 0 || optional.some((t) => m.includes(t))) &&
    !excluded.some((t) => m.includes(t));
}
