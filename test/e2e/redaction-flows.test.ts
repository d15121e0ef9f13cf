// Every way a credential can flow out of a query, run for real against PostgreSQL 15 and PGlite
// (library, every format) and through the CLI over exec (psql in the task, which reports no column
// origins): the seeded secrets' bytes must appear nowhere in stdout, stderr or the audit log. The
// check is on the real output, not on the analysis' verdict. Legitimate queries still work,
// redacted rather than refused.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../sandbox/fixture/index.js';
import { CoderdbError } from '../../src/core/errors.js';
import {
  type CoderdbContext,
  createContext,
  createWriter,
  loadProfile,
  runReadQuery,
  StringSink,
} from '../../src/index.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { sql as rawSql } from '../ops/backup/helpers.js';

/** rows: runs and prints (redacted); refused: refused before sending; error: the server fails it. */
type Outcome = 'rows' | 'refused' | 'error';

const FLOWS: [string, Outcome][] = [
  // Plain columns and every way to rename them.
  ['select * from users', 'rows'],
  ['select id, username, hashed_password from users', 'rows'],
  ['table api_keys', 'rows'],
  ['select * from users u(a, b, c, d, e, f)', 'rows'],
  ['select f, e, d, c, b, a from users u(a, b, c, d, e, f)', 'rows'],
  ['select x.* from api_keys x(a, b, c)', 'rows'],
  ['select hashed_password as username from users', 'rows'],
  ['select s.x from (select hashed_password from users) s(x)', 'rows'],
  ['with x(a, b) as (select username, hashed_password from users) select b as name from x', 'rows'],
  ['with x as (select * from users) select * from x', 'rows'],
  [
    "with recursive r(n, p) as (select 1, hashed_password from users where username = 'admin' union all select n + 1, p from r where n < 3) select * from r",
    'rows',
  ],
  ['select username from users union all select hashed_secret::text from api_keys', 'rows'],
  ['select * from users u join api_keys k on k.user_id = u.id', 'rows'],
  ['select * from users natural join user_links', 'rows'],
  ['select * from users join user_links using (user_id)', 'error'],
  // VALUES, unnest, jsonb_each, xml.
  ["values ((select hashed_password from users where username = 'admin'))", 'rows'],
  ['select * from (values ((select hashed_secret from api_keys limit 1), 1)) v(a, b)', 'rows'],
  ['select * from unnest(array(select hashed_password from users))', 'rows'],
  ['select u from unnest(array(select hashed_secret from api_keys)) u', 'rows'],
  ['select unnest(array(select hashed_secret::text from api_keys))', 'rows'],
  ["select * from jsonb_each(to_jsonb((select u from users u where username = 'admin')))", 'rows'],
  ['select key, value from jsonb_each_text((select to_jsonb(k) from api_keys k limit 1))', 'rows'],
  ['select j.* from users u, jsonb_each(to_jsonb(u)) j', 'rows'],
  ['select * from json_populate_recordset(null::users, (select json_agg(u) from users u))', 'rows'],
  [
    'select * from jsonb_to_recordset((select jsonb_agg(k) from api_keys k)) as x(hashed_secret text)',
    'rows',
  ],
  ["select table_to_xml('users', true, false, '')", 'rows'],
  ["select table_to_xml('public.api_keys'::regclass, false, false, '')", 'rows'],
  ['select xmlforest(hashed_password, username) from users', 'rows'],
  ["select xmlelement(name x, convert_from(hashed_password, 'UTF8')) from users", 'rows'],
  ["select query_to_xml('select * from users', true, false, '')", 'refused'],
  // Whole rows and expressions.
  ['select row_to_json(u) from users u', 'rows'],
  ["select to_jsonb(u.*) - 'email' as doc from users u", 'rows'],
  ['select u from users u', 'rows'],
  ['select (u).* from users u', 'rows'],
  ['select (u).hashed_password from users u', 'rows'],
  ['select json_agg(k) from api_keys k', 'rows'],
  ["select string_agg(encode(hashed_password, 'base64'), ',') from users", 'rows'],
  ['select array_agg(oauth_access_token) from user_links', 'rows'],
  ["select hashed_password::text || '' from users", 'rows'],
  ["select convert_from(hashed_password, 'UTF8') as plain from users", 'rows'],
  ['select case when true then hashed_password end from users', 'rows'],
  ["select coalesce(oauth_refresh_token, 'none') from user_links", 'rows'],
  ["select format('%s', auth_token) from workspace_agents", 'rows'],
  ['select lag(private_key) over (order by user_id) from gitsshkeys', 'rows'],
  ['select jwt from licenses', 'rows'],
  ["select convert_from(provisioner_state, 'UTF8') from workspace_builds", 'rows'],
  ["select regexp_split_to_table(convert_from(hashed_password, 'UTF8'), '[$]') from users", 'rows'],
  ['select substr(hashed_password, 1, 40) from users', 'rows'],
  ['select (select hashed_password from users order by username limit 1) as h', 'rows'],
  ['select array(select hashed_secret from api_keys)', 'rows'],
  // COPY.
  ['copy users to stdout', 'refused'],
  ['copy (select hashed_password from users) to stdout with (format csv)', 'refused'],
  ['copy api_keys (id, hashed_secret) to stdout', 'refused'],
  ['copy (select * from users u(a, b, c, d, e)) to stdout', 'refused'],
  // Statistics.
  ["select most_common_vals, histogram_bounds from pg_stats where tablename = 'users'", 'rows'],
  [
    "select attname, most_common_vals, histogram_bounds from pg_stats where tablename in ('users', 'api_keys')",
    'rows',
  ],
  ["select * from pg_stats where tablename = 'users'", 'rows'],
  ['select histogram_bounds::text from pg_stats', 'rows'],
  ['select s.* from pg_stats s(a, b, c)', 'rows'],
  ['select * from pg_stats_ext', 'rows'],
  // Errors that quote the value.
  ['select hashed_password::text::int from users', 'error'],
  ["select id from users where convert_from(hashed_password, 'UTF8')::int = 1", 'error'],
  [
    "select convert_from(hashed_password, 'UTF8')::jsonb from users where length(hashed_password) > 0",
    'error',
  ],
  [
    "select to_number(convert_from(hashed_password, 'UTF8'), '999') from users where length(hashed_password) > 0",
    'error',
  ],
  ['select hashed_secret::text::uuid from api_keys', 'error'],
  ['select oauth_access_token::int from user_links', 'error'],
  ['select (auth_token::text || oauth_access_token)::date from workspace_agents, user_links', 'error'],
  ["select convert_from(hashed_secret, 'UTF8') from api_keys", 'error'],
  ['select array[private_key]::int[] from gitsshkeys', 'error'],
  ['select 1 / (length(hashed_password) - length(hashed_password)) from users', 'error'],
  ['explain analyze select hashed_password::text::int from users', 'error'],
  // Cursors and widths.
  ['declare c cursor for select * from users; fetch all from c', 'rows'],
  ['fetch all from c', 'refused'],
  ['select * from unnest(array(select hashed_password from users)) a, generate_series(1, 2) b', 'refused'],
];

/** Queries that must print what they always printed, credentials as [redacted]. */
const LEGITIMATE = [
  'select id, username, hashed_password from users order by username',
  'select * from users order by username',
  'select u.username, k.token_name, k.hashed_secret from users u join api_keys k on k.user_id = u.id',
  'select count(*) from api_keys',
  'select count(hashed_password), count(*) filter (where hashed_password is not null) from users',
  "select username, hashed_password is null as none, length(hashed_password) > 0 as set from users where hashed_password <> '' order by hashed_password",
];

function forms(secrets: readonly string[]): string[] {
  const out = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < 8) continue;
    out.add(secret);
    out.add(secret.toUpperCase());
    out.add(Buffer.from(secret).toString('base64').slice(0, 24));
    // Inside a JSON string, a backslash is doubled.
    out.add(JSON.stringify(secret).slice(1, -1));
  }
  return [...out];
}

const SECRETS = forms([...DEMO.secrets.current, ...DEMO.sshPrivateKeyBodies]);

function leaked(text: string): string | undefined {
  return SECRETS.find((secret) => text.includes(secret));
}

for (const engine of ['postgres', 'pglite'] as const) {
  describe(`redaction on ${engine}`, () => {
    let sandbox: TestSandbox;
    let context: CoderdbContext;
    let auditFile: string;

    beforeAll(async () => {
      sandbox = await startSandbox({ engine });
      // pg_stats shows sampled values only once the tables are analyzed.
      await rawSql(sandbox.state.databaseUrl, 'ANALYZE users; ANALYZE api_keys; ANALYZE user_links');
      const config = join(sandbox.dir, 'empty-config.json');
      writeFileSync(config, '{}');
      auditFile = join(sandbox.dir, 'library-audit.jsonl');
      context = createContext({
        resolvedProfile: loadProfile({
          configFile: config,
          env: {},
          overrides: { url: sandbox.state.databaseUrl },
        }),
        auditFile,
      });
    }, 240_000);
    afterAll(async () => {
      context?.dispose();
      await sandbox?.stop();
    });

    async function read(query: string, format: 'table' | 'json' | 'csv' | 'ndjson', showSecrets = false) {
      const sink = new StringSink();
      try {
        await runReadQuery(context, query, createWriter(format, sink), { showSecrets });
        return { outcome: 'rows' as Outcome, text: sink.text() };
      } catch (error) {
        if (!(error instanceof CoderdbError)) throw error;
        const text = `${sink.text()}\n${error.message}\n${error.detail ?? ''}\n${error.hint ?? ''}`;
        if (error.kind === 'refused') return { outcome: 'refused' as Outcome, text, code: error.code };
        return { outcome: 'error' as Outcome, text, code: error.code };
      }
    }

    it('the seeded secrets are there to leak', async () => {
      const shown = await read('select hashed_password, hashed_secret from users, api_keys', 'csv', true);
      expect(leaked(shown.text)).toBeDefined();
      const stats = await read(
        "select histogram_bounds from pg_stats where tablename = 'users' and attname = 'hashed_password'",
        'json',
        true,
      );
      expect(leaked(stats.text), 'ANALYZE put values in pg_stats').toBeDefined();
      const error = await read('select hashed_password::text::int from users', 'json', true);
      expect(error.outcome).toBe('error');
      expect(leaked(error.text), 'the server quotes the value').toBeDefined();
    });

    it(`${FLOWS.length} flows print no credential in any format, nor in the audit log`, async () => {
      expect(FLOWS.length).toBeGreaterThanOrEqual(40);
      // The check above ran with --show-secrets, which audits what the server said as it was.
      writeFileSync(auditFile, '');
      const failures: string[] = [];
      for (const [index, [query, expected]] of FLOWS.entries()) {
        // Every format for some, two (the server's CSV and coderdb's JSON) for the rest: the machine is small.
        const formats =
          index % 4 === 0 ? (['table', 'json', 'csv', 'ndjson'] as const) : (['json', 'csv'] as const);
        for (const format of formats) {
          const result = await read(query, format);
          if (result.outcome !== expected)
            failures.push(`${query} as ${format}: ${result.outcome} ${result.text}`);
          const secret = leaked(result.text);
          if (secret)
            failures.push(
              `${query} as ${format}: leaked ${secret.slice(0, 12)}… in ${result.text.slice(0, 300)}`,
            );
          if (
            expected === 'refused' &&
            result.code !== 'guard.read-only' &&
            !/--show-secrets/.test(result.text)
          )
            failures.push(`${query}: no hint`);
        }
      }
      expect(failures).toEqual([]);
      const audit = readFileSync(auditFile, 'utf8');
      expect(audit).toMatch(/invalid input syntax/);
      expect(leaked(audit)).toBeUndefined();
    }, 600_000);

    it('legitimate queries print their rows, credentials redacted', async () => {
      for (const query of LEGITIMATE) {
        const result = await read(query, 'json');
        expect(result.outcome, `${query}: ${result.text}`).toBe('rows');
        expect(leaked(result.text), query).toBeUndefined();
      }
      const users = JSON.parse((await read(LEGITIMATE[0]!, 'json')).text) as Record<string, unknown>[];
      expect(users.find((u) => u.username === 'admin')?.hashed_password).toBe('[redacted]');
      const count = JSON.parse((await read('select count(*) as n from api_keys', 'json')).text);
      expect(count).toEqual([{ n: DEMO.apiKeyCount }]);
      const joined = JSON.parse((await read(LEGITIMATE[2]!, 'json')).text) as Record<string, unknown>[];
      expect(joined.length).toBeGreaterThan(0);
      expect(
        joined.every((row) => row.hashed_secret === '[redacted]' && typeof row.username === 'string'),
      ).toBe(true);
      // pg_stats: a credential column's samples are hidden, another column's are not.
      const stats = JSON.parse(
        (
          await read(
            "select attname, histogram_bounds from pg_stats where tablename = 'users' and attname in ('username', 'hashed_password')",
            'json',
          )
        ).text,
      ) as { attname: string; histogram_bounds: unknown }[];
      const byName = Object.fromEntries(stats.map((row) => [row.attname, row.histogram_bounds]));
      expect(byName.hashed_password).toBe('[redacted]');
      expect(String(byName.username)).toContain('admin');
      // Errors about other things keep what the user typed.
      const missing = await read('select nosuchcolumn, hashed_password from users', 'json');
      expect(missing.text).toContain('"nosuchcolumn"');
      const cast = await read("select 'abc'::int, hashed_password from users", 'json');
      expect(cast.text).toContain('"abc"');
    });

    it('the CSV fast path stays for queries without credentials', async () => {
      const result = await read('select username, email from users order by username', 'csv');
      expect(result.text.split('\n')[0]).toBe('username,email');
      expect(result.text).toContain('admin');
    });

    if (engine === 'postgres') {
      it('over exec (psql in the task) and the CLI: no credential in stdout, stderr or the audit log', async () => {
        for (const transport of ['exec', 'direct'] as const) {
          // A sample: each CLI run costs a process and, over exec, an ECS Exec session.
          const sample = FLOWS.filter((_, index) => index % (transport === 'exec' ? 6 : 12) === 0);
          for (const [query, expected] of sample) {
            const format = transport === 'exec' ? 'json' : 'csv';
            const result = await sandbox.run(['--transport', transport, 'query', query, '--format', format]);
            const code = { rows: 0, error: 1, refused: 4 }[expected];
            expect(result.code, `${transport}: ${query}: ${result.stderr}`).toBe(code);
            expect(leaked(result.stdout), `${transport}: ${query}`).toBeUndefined();
            expect(leaked(result.stderr), `${transport}: ${query}`).toBeUndefined();
          }
        }
        const notice = await sandbox.run([
          '--transport',
          'exec',
          'query',
          "select hashed_password::text::int from users where username = 'admin'",
        ]);
        expect(notice.code).toBe(1);
        expect(notice.stderr).toMatch(/invalid input syntax for type integer: "\[redacted\]"/);
        // A write whose plan fails on a credential's value.
        const write = await sandbox.run([
          'query',
          '--write',
          '--yes',
          "update users set username = username where convert_from(hashed_password, 'UTF8')::int = 1",
        ]);
        expect(write.code, write.stderr).toBe(1);
        expect(write.stderr).toMatch(/invalid input syntax for type integer: "\[redacted\]"/);
        expect(leaked(write.stderr)).toBeUndefined();
        const audit = join(sandbox.dir, 'state', 'coderdb', 'audit.jsonl');
        expect(existsSync(audit)).toBe(true);
        expect(leaked(readFileSync(audit, 'utf8'))).toBeUndefined();
        const shown = await sandbox.run([
          '--transport',
          'exec',
          'query',
          "select hashed_password from users where username = 'admin'",
          '--format',
          'json',
          '--show-secrets',
        ]);
        expect(leaked(shown.stdout)).toBeDefined();
      }, 600_000);
    }
  });
}
