// Coder keeps signing keys as rows of site_configs (key, value). coderdb redacts a value whose key
// names a secret when the key is beside it, and every value read from site_configs without its key,
// in every output format and over direct and exec.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { sql } from '../ops/backup/helpers.js';

const SIGNING_KEY = 'f3a94c1d0e8b7a6f5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f';
const MESH_KEY = 'mesh-9c8b7a6f5e4d3c2b1a0';

describe('site_configs secrets', () => {
  let sandbox: TestSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ engine: 'pglite' });
    await sql(
      sandbox.state.databaseUrl,
      `CREATE TABLE IF NOT EXISTS site_configs (key varchar(256) NOT NULL PRIMARY KEY, value varchar(8192) NOT NULL);
       INSERT INTO site_configs VALUES ('deployment_id', 'dep-123'), ('oauth_signing_key', '${SIGNING_KEY}'),
         ('derp_mesh_key', '${MESH_KEY}'), ('webpush_vapid_public_key', 'public-ok')`,
    );
  });
  afterAll(async () => {
    await sandbox?.stop();
  });

  for (const transport of ['direct', 'exec'] as const) {
    it(`over ${transport}: values of secret keys never print, the rest do`, async () => {
      const run = (query: string, format: string) =>
        sandbox.run(['--transport', transport, 'query', query, '--format', format]);
      for (const format of ['json', 'csv', 'table', 'ndjson']) {
        for (const query of [
          'select * from site_configs order by key',
          'select key, value from site_configs order by key',
          "select value from site_configs where key = 'oauth_signing_key'",
          'select upper(value) as v from site_configs',
        ]) {
          const result = await run(query, format);
          expect(result.code, result.stderr).toBe(0);
          expect(result.stdout, `${query} as ${format}`).not.toContain(SIGNING_KEY);
          expect(result.stdout.toUpperCase(), `${query} as ${format}`).not.toContain(
            SIGNING_KEY.toUpperCase(),
          );
          expect(result.stdout, `${query} as ${format}`).not.toContain(MESH_KEY);
        }
      }
      const rows = json<{ key: string; value: string }[]>(
        await run('select key, value from site_configs order by key', 'json'),
      );
      expect(Object.fromEntries(rows.map((row) => [row.key, row.value]))).toEqual({
        deployment_id: 'dep-123',
        derp_mesh_key: '[redacted]',
        oauth_signing_key: '[redacted]',
        webpush_vapid_public_key: 'public-ok',
      });
      const shown = await sandbox.run([
        '--transport',
        transport,
        'query',
        "select value from site_configs where key = 'oauth_signing_key'",
        '--show-secrets',
      ]);
      expect(shown.stdout).toContain(SIGNING_KEY);
    });
  }
});
