// PGlite serves every connection from one backend. What one client sets for its session must not
// reach the next client (pg_dump leaves an empty search_path behind, for one), and a client that
// is still connected must keep its own settings while others come and go.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPglite } from '../../../sandbox/engines/pglite.js';
import type { RunningDatabase } from '../../../sandbox/engines/types.js';
import { CACHE_DIR } from '../../helpers/cli.js';

let database: RunningDatabase;
beforeAll(async () => {
  database = await startPglite({
    fixture: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1);',
    cacheDir: CACHE_DIR,
  });
});
afterAll(async () => {
  await database?.close();
});

async function client(): Promise<pg.Client> {
  const connection = new pg.Client({ connectionString: database.url });
  connection.on('error', () => undefined);
  await connection.connect();
  return connection;
}

const setting = async (connection: pg.Client, name: string) =>
  (await connection.query<{ value: string }>(`SELECT current_setting('${name}') AS value`)).rows[0]!.value;

/** The server resets on the close it notices; give it a bounded moment. */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

describe('PGlite session state', () => {
  it("does not leak one client's session settings, prepared statements or temp tables to the next", async () => {
    const fresh = await client();
    const defaults = {
      search_path: await setting(fresh, 'search_path'),
      timezone: await setting(fresh, 'TimeZone'),
    };
    await fresh.end();

    const first = await client();
    await first.query("SELECT pg_catalog.set_config('search_path', '', false)");
    await first.query("SET TimeZone = 'Asia/Tokyo'");
    await first.query('PREPARE leftover AS SELECT 1');
    await first.query('CREATE TEMP TABLE scratch (x int)');
    await first.end();

    const next = await client();
    try {
      expect(
        await eventually(async () => (await setting(next, 'search_path')) === defaults.search_path),
      ).toBe(true);
      expect(await setting(next, 'TimeZone')).toBe(defaults.timezone);
      expect(
        (await next.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = 'leftover'"))
          .rows[0].n,
      ).toBe(0);
      expect((await next.query("SELECT to_regclass('pg_temp.scratch') IS NULL AS gone")).rows[0].gone).toBe(
        true,
      );
      expect((await next.query('SELECT count(*)::int AS n FROM t')).rows[0].n).toBe(1);
    } finally {
      await next.end();
    }
  });

  it('leaves a connected client its settings while another comes and goes', async () => {
    const staying = await client();
    try {
      await staying.query("SET TimeZone = 'Asia/Tokyo'");
      const visitor = await client();
      await visitor.query('SELECT 1');
      await visitor.end();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(await setting(staying, 'TimeZone')).toBe('Asia/Tokyo');
    } finally {
      await staying.end();
    }
  });
});
