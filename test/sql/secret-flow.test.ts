// Which result names carry a credential, read from PostgreSQL's own parse tree.

import { describe, expect, it } from 'vitest';
import { isSecretColumn } from '../../src/ops/coder/secrets.js';
import { analyze } from '../../src/sql/guard.js';
import { hasWholeRowReference, referencedRelations, secretDerivedNames } from '../../src/sql/secret-flow.js';

async function tree(sql: string) {
  const [statement] = await analyze(sql);
  return statement!.node;
}

async function tainted(sql: string, wholeRowsAreSecret = false): Promise<string[]> {
  return [...secretDerivedNames(await tree(sql), isSecretColumn, wholeRowsAreSecret)].sort();
}

describe('secret flow', () => {
  it('follows a credential through aliases, expressions, subqueries and CTEs', async () => {
    expect(await tainted('select hashed_password as h, username from users')).toEqual(['h']);
    expect(await tainted('select upper(token) as t from api_keys')).toEqual(['t']);
    expect(await tainted('select s.p as q from (select hashed_password as p from users) s')).toEqual([
      'p',
      'q',
    ]);
    expect(
      await tainted(
        'with a as (select secret as x from k), b as (select x as y from a) select y as z from b',
      ),
    ).toEqual(['x', 'y', 'z']);
    // Unaliased: every name PostgreSQL could give the column.
    expect(await tainted('select hashed_password || 1 from users')).toContain('?column?');
    expect(await tainted('select coalesce(token, 1) from t')).toContain('coalesce');
  });

  it('leaves names that carry no credential alone', async () => {
    expect(await tainted('select username as hashed, id from users')).toEqual([]);
    expect(await tainted("select 'token' as label")).toEqual([]);
    expect(await tainted('select row_to_json(t) as doc from templates t')).toEqual([]);
  });

  it('counts whole rows only when the caller found credentials among the relations', async () => {
    for (const sql of [
      'select row_to_json(u) as doc from users u',
      'select to_jsonb(u.*) as doc from users u',
      'select users as doc from users',
      'with x as (select * from users) select row_to_json(x) as doc from x',
    ]) {
      expect(hasWholeRowReference(await tree(sql)), sql).toBe(true);
      expect(await tainted(sql, true), sql).toEqual(['doc']);
      expect(await tainted(sql, false), sql).toEqual([]);
    }
    // `u.*` in a target list expands into named columns; it is not a whole row.
    expect(hasWholeRowReference(await tree('select u.* from users u'))).toBe(false);
    expect(hasWholeRowReference(await tree('select count(*) from users'))).toBe(false);
  });

  it('lists the relations a statement reads, each once', async () => {
    const relations = referencedRelations(
      await tree('select * from public.users u join api_keys k on true, users, users v'),
    );
    expect(relations).toHaveLength(3);
    expect(relations).toEqual(
      expect.arrayContaining([{ schema: 'public', name: 'users' }, { name: 'api_keys' }, { name: 'users' }]),
    );
  });
});
