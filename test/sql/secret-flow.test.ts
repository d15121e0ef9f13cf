// Where credentials go in a statement, read from PostgreSQL's own parse tree, with Coder's column
// lists standing in for the catalog. The proof that nothing leaks is test/e2e/redaction-flows.test.ts,
// on real databases; these pin down the analysis itself.

import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/sql/guard.js';
import { placeColumns, referencedRelations, secretFlow } from '../../src/sql/secret-flow.js';

const CATALOG: Record<string, string[]> = {
  users: ['id', 'email', 'username', 'hashed_password', 'created_at'],
  api_keys: ['id', 'hashed_secret', 'user_id', 'token_name'],
  templates: ['id', 'name', 'description'],
  site_configs: ['key', 'value'],
  pg_stats: ['schemaname', 'tablename', 'attname', 'null_frac', 'most_common_vals', 'histogram_bounds'],
};

async function flow(sql: string) {
  const [statement] = await analyze(sql);
  return secretFlow(statement!.type, statement!.node, { columnsOf: (r) => CATALOG[r.name] });
}

/** Per result column: 's' secret, 'k' keyed (redacted per row), '-' clean. */
async function shape(sql: string, width?: number): Promise<string> {
  const result = await flow(sql);
  expect(result.refusal, sql).toBeUndefined();
  const columns = placeColumns(result.output!, width ?? countKnown(result.output!));
  return columns!.map((c) => (c.secret ? 's' : c.keyedBy ? 'k' : '-')).join('');
}

function countKnown(output: NonNullable<Awaited<ReturnType<typeof flow>>['output']>): number {
  return output.reduce((sum, segment) => sum + ('columns' in segment ? segment.columns.length : 1), 0);
}

describe('secret flow', () => {
  it('places credentials by position, through every rename', async () => {
    expect(await shape('select id, username, hashed_password from users')).toBe('--s');
    expect(await shape('select * from users')).toBe('---s-');
    expect(await shape('select * from users u(a, b, c, d)')).toBe('---s-');
    expect(await shape('select d from users u(a, b, c, d)')).toBe('s');
    expect(await shape('select a from users u(a, b, c, d)')).toBe('-');
    expect(await shape('with x(p, q) as (select id, hashed_password from users) select q, p from x')).toBe(
      's-',
    );
    expect(await shape('select t.id from (select hashed_password as y, id from users) t(x)')).toBe('-');
    expect(await shape('select t.x from (select hashed_password as y, id from users) t(x)')).toBe('s');
    expect(await shape('select id from users union select hashed_password from users')).toBe('s');
    expect(await shape('values (1, (select hashed_password from users limit 1))')).toBe('-s');
    expect(await shape('select * from users join api_keys k using (id)')).toBe('---s-s--');
    expect(await shape('table users')).toBe('---s-');
    expect(await shape('select (u).* from users u')).toBe('---s-');
    // A correlated reference to a renamed credential, from inside a subquery over another table.
    expect(await shape('select (select d from templates limit 1) from users u(a, b, c, d)')).toBe('s');
    expect(await shape('select (select value from templates limit 1) from site_configs')).toBe('s');
    expect(await shape('select (values (value)), case when true then value end from site_configs')).toBe(
      'ss',
    );
  });

  it('redacts expressions that carry a credential as a whole, and tests that carry none', async () => {
    expect(await shape('select upper(hashed_password::text), row_to_json(u), u from users u')).toBe('sss');
    expect(
      await shape("select string_agg(hashed_secret::text, ','), xmlforest(hashed_secret) from api_keys"),
    ).toBe('ss');
    expect(
      await shape(
        "select count(hashed_password), hashed_password is null, hashed_password = '' , length(hashed_password), case when hashed_password is null then 'none' else 'set' end from users",
      ),
    ).toBe('-----');
    expect(
      await shape('select id from users where hashed_password is not null order by hashed_password'),
    ).toBe('-');
    expect(await shape('select row_to_json(t) from templates t')).toBe('-');
    expect(await shape("select table_to_xml('users', true, false, '')")).toBe('s');
    expect(await shape("select table_to_xml('templates', true, false, '')")).toBe('-');
  });

  it('keys site_configs values and pg_stats samples by the row', async () => {
    expect(await shape('select key, value from site_configs')).toBe('-k');
    expect(await shape('select value from site_configs')).toBe('k');
    expect(await shape('select attname, histogram_bounds from pg_stats')).toBe('-k');
    expect(await shape('select histogram_bounds::text from pg_stats')).toBe('s');
  });

  it('marks what a statement reads, for scrubbing messages', async () => {
    expect((await flow('select id from users where hashed_password::text::int = 1')).readsSecrets).toBe(true);
    expect((await flow('select id, username from users')).readsSecrets).toBe(false);
  });

  it('refuses what it cannot place', async () => {
    expect((await flow('copy users to stdout')).refusal).toMatch(/COPY/);
    expect((await flow('copy (select hashed_password from users) to stdout')).refusal).toMatch(/COPY/);
    expect((await flow('copy users (id, username) to stdout')).refusal).toBeUndefined();
    expect((await flow('fetch 1 from nowhere')).refusal).toMatch(/did not declare/);
    expect(
      (
        await flow(
          'select * from unnest(array(select hashed_password from users)) a, generate_series(1, 2) b',
        )
      ).refusal,
    ).toMatch(/unknown width/);
  });

  it('asks for the column lists it needs, and only those', async () => {
    const [statement] = await analyze('select * from users u join templates t on true where u.id = t.id');
    const needed = secretFlow(statement!.type, statement!.node, { columnsOf: () => undefined }).needed;
    expect(needed.map((r) => r.name).sort()).toEqual(['templates', 'users']);
    const [plain] = await analyze('select id, hashed_password from users where username = $$x$$');
    expect(secretFlow(plain!.type, plain!.node, { columnsOf: () => undefined }).needed).toEqual([]);
    expect(referencedRelations(statement!.node)).toHaveLength(2);
  });
});
