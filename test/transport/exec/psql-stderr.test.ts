// psql's stderr as psql 15 writes it with VERBOSITY terse and \errverbose (captured from real runs).

import { describe, expect, it } from 'vitest';
import {
  errorExtras,
  exitReason,
  noticesIn,
  parseMessages,
} from '../../../src/transport/exec/psql-stderr.js';

const STDERR = [
  'psql:/dev/stdin:24: NOTICE:  hello 1',
  'psql:/dev/stdin:24: WARNING:  two',
  'lines',
  'psql:/dev/stdin:31: ERROR:  duplicate key value violates unique constraint "t_pkey" at character 12',
  'psql:/dev/stdin:33: error: ERROR:  23505: duplicate key value violates unique constraint "t_pkey"',
  'LINE 1: insert into t values (1)',
  '                    ^',
  'DETAIL:  Key (a)=(1) already exists.',
  'and a second line',
  'HINT:  Pick another key.',
  'SCHEMA NAME:  public',
  'LOCATION:  _bt_check_unique, nbtinsert.c:666',
  '',
].join('\n');

describe('psql stderr', () => {
  const messages = parseMessages(STDERR);

  it('passes notices and warnings on with their continuation lines', () => {
    expect(noticesIn(messages)).toEqual([
      { severity: 'NOTICE', message: 'hello 1' },
      { severity: 'WARNING', message: 'two\nlines' },
    ]);
  });

  it('finds the position, detail and hint of the error psql reported', () => {
    const message = 'duplicate key value violates unique constraint "t_pkey"';
    expect(errorExtras(messages, message, '23505')).toEqual({
      position: 12,
      detail: 'Key (a)=(1) already exists.\nand a second line',
      hint: 'Pick another key.',
    });
    expect(errorExtras(messages, 'some other message', '23505')).toEqual({});
  });

  it('says why psql exited without its prefixes', () => {
    expect(
      exitReason(
        'psql: error: connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication failed for user "coder"\n',
      ),
    ).toBe(
      'connection to server at "10.0.0.5", port 5432 failed: FATAL:  password authentication failed for user "coder"',
    );
  });
});
