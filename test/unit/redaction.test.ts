// Server messages about statements that read credentials: quoted values the statement did not
// contain are replaced, what the user typed stays.

import { describe, expect, it } from 'vitest';
import { scrubMessage } from '../../src/ops/redaction.js';

describe('scrubMessage', () => {
  const sql = "select hashed_password::text::int, 'abc'::int from users where nosuch = 1";
  it('replaces quoted, parenthesized and byte values that the SQL does not contain', () => {
    expect(scrubMessage('ERROR: invalid input syntax for type integer: "\\x2470626b"', sql)).toBe(
      'ERROR: invalid input syntax for type integer: "[redacted]"',
    );
    expect(scrubMessage('DETAIL: Key (hashed_password)=(\\x2470) already exists.', sql)).toBe(
      'DETAIL: Key (hashed_password)=([redacted]) already exists.',
    );
    expect(scrubMessage('DETAIL: Failing row contains (1, (nested), secret).', sql)).toBe(
      'DETAIL: Failing row contains ([redacted]).',
    );
    expect(scrubMessage('DETAIL: Token "pbkdf2" is invalid.', sql)).toBe(
      'DETAIL: Token "[redacted]" is invalid.',
    );
    expect(scrubMessage('ERROR: invalid byte sequence for encoding "UTF8": 0xe2 0x80', sql)).toBe(
      'ERROR: invalid byte sequence for encoding "[redacted]": [redacted]',
    );
  });
  it('keeps what the statement itself contains', () => {
    expect(scrubMessage('ERROR: column "nosuch" does not exist', sql)).toBe(
      'ERROR: column "nosuch" does not exist',
    );
    expect(scrubMessage('ERROR: invalid input syntax for type integer: "abc"', sql)).toBe(
      'ERROR: invalid input syntax for type integer: "abc"',
    );
    expect(scrubMessage('ERROR: division by zero', sql)).toBe('ERROR: division by zero');
  });
});
