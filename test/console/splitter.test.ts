// Where console input ends a statement: PostgreSQL's scanner decides, so semicolons in quotes,
// dollar quotes, comments and parentheses never end one.

import { describe, expect, it } from 'vitest';
import { setsPassword, splitComplete } from '../../src/console/splitter.js';

describe('console statement splitter', () => {
  it.each([
    ['select 1', undefined],
    ['select 1;', { complete: 'select 1;', rest: '' }],
    ['select 1; select 2', { complete: 'select 1;', rest: ' select 2' }],
    ["select ';'", undefined],
    ["select 'a;", undefined],
    ['select $$ ; $$', undefined],
    ['select $$ ; $$;', { complete: 'select $$ ; $$;', rest: '' }],
    ['select 1 -- ;', undefined],
    ['select /* ; */ 1', undefined],
    ['create rule r as on insert to t do (select 1; select 2)', undefined],
    ['select 1\n  + 2;\nselect', { complete: 'select 1\n  + 2;', rest: '\nselect' }],
  ])('%j', async (buffer, expected) => {
    expect(await splitComplete(buffer)).toEqual(expected);
  });

  it('recognises statements that set a password, however they are written', async () => {
    expect(await setsPassword("alter role x password 'y'")).toBe(true);
    expect(await setsPassword("CREATE USER x WITH\n PASSWORD 'y'")).toBe(true);
    expect(await setsPassword("select 'password'")).toBe(false);
    expect(await setsPassword('select password from t')).toBe(false);
  });
});
