// Secrets (passwords, connection URLs with credentials, session tokens) travel wrapped in `Secret`,
// which redacts itself in every way a value usually escapes: String(), template literals,
// JSON.stringify, util.inspect and console.log. Only `reveal()` gives the value, so every place
// that needs it is greppable. Each revealed value is also registered with `scrub`, which removes
// it from any text (an error message from a driver, say) before that text is shown.

import { inspect } from 'node:util';

const REDACTED = '[redacted]';
const known = new Set<string>();

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
    rememberSecret(value);
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** Registers a value (or the parts of one) that must never appear in output. */
export function rememberSecret(value: string): void {
  // Very short values would scrub innocent text ("a", "1"); they are not worth hiding either.
  if (value.length >= 4) known.add(value);
}

// Bounded repetitions: a long run of letters (a hex literal, say) must not make every start
// position scan to the end of the text.
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]{0,31}:\/\/)([^\s/@:]{0,256})(:[^\s/@]{0,1024})?@/gi;
const PASSWORD_PARAM = /((?:^|[?&\s])(?:password|passwd|pwd|sslpassword)=)[^&\s]*/gi;

/** Removes credentials from free text: URL passwords, password= parameters, known secrets. */
export function scrub(text: string): string {
  let out = !text.includes('://')
    ? text
    : text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string, pass?: string) =>
        pass ? `${scheme}${user}:***@` : `${scheme}${user}@`,
      );
  out = out.replace(PASSWORD_PARAM, '$1***');
  for (const value of known) {
    if (out.includes(value)) out = out.split(value).join('***');
  }
  return out;
}

/** A PostgreSQL URL with its password replaced by `***`, safe to print. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass/i.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString().replace('%2A%2A%2A', '***');
  } catch {
    return scrub(url);
  }
}
