// What a first day with describe and the list commands turns up, on both engines: PostgreSQL 18's
// NOT NULL constraints are the column's nullability, not constraints of their own; a never-analysed
// table's row estimate is unknown, not 0; a mistyped table gets a suggestion; lists take --limit.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPostgresBinDir } from '../../sandbox/engines/postgres-server.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

const ENGINES = [
  { engine: 'pglite' as const, available: true },
  { engine: 'postgres' as const, available: findPostgresBinDir(15) !== undefined },
];

describe.each(ENGINES)('catalog details on $engine', ({ engine, available }) => {
  let sandbox: TestSandbox;
  beforeAll(async () => {
    if (available) sandbox = await startSandbox({ engine });
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  it.skipIf(!available)('describe lists no NOT NULL constraints beside the nullable column', async () => {
    const result = await sandbox.run(['describe', 'templates', '--format', 'json']);
    expect(result.code, result.stderr).toBe(0);
    const description = JSON.parse(result.stdout) as {
      columns: { column: string; nullable: string }[];
      constraints: { type: string; definition: string }[];
    };
    expect(description.columns.find((column) => column.column === 'id')?.nullable).toBe('not null');
    expect(description.constraints.length).toBeGreaterThan(0);
    expect(description.constraints.filter((constraint) => /^NOT NULL/i.test(constraint.definition))).toEqual(
      [],
    );
  });

  it.skipIf(!available)(
    'a table never analysed has an unknown row estimate, an analysed one a number',
    async () => {
      const psql = ['query', '--format', 'json'];
      const fresh = await sandbox.run([
        ...psql,
        "select c.reltuples from pg_class c where c.relname = 'templates'",
      ]);
      const reltuples = Number(JSON.parse(fresh.stdout)[0].reltuples);
      const tables = await sandbox.run(['tables', '--format', 'json']);
      const templates = (JSON.parse(tables.stdout) as { name: string; rows_estimate: number | null }[]).find(
        (table) => table.name === 'templates',
      );
      expect(templates?.rows_estimate).toBe(reltuples < 0 ? null : Math.round(reltuples));
    },
  );

  it.skipIf(!available)('suggests the table a typo meant', async () => {
    const result = await sandbox.run(['describe', 'tempaltes']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no table or view named "tempaltes"');
    expect(result.stderr).toContain('did you mean "templates"?');
  });

  it.skipIf(!available)('lists take --limit and say how many rows were left out', async () => {
    const all = JSON.parse((await sandbox.run(['tables', '--format', 'json'])).stdout) as unknown[];
    const limited = await sandbox.run(['tables', '--format', 'json', '--limit', '2']);
    expect(JSON.parse(limited.stdout)).toEqual(all.slice(0, 2));
    expect(limited.stderr).toContain(`(2 of ${all.length} rows; --limit 2)`);
    for (const args of [
      ['users', 'list'],
      ['templates', 'list'],
      ['workspaces', 'list'],
      ['db', 'connections', '--all'],
    ]) {
      const result = await sandbox.run([...args, '--format', 'json', '--limit', '1']);
      expect(result.code, result.stderr).toBe(0);
      expect((JSON.parse(result.stdout) as unknown[]).length).toBeLessThanOrEqual(1);
    }
    const bad = await sandbox.run(['tables', '--limit', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--limit must be a whole number');
  });
});
