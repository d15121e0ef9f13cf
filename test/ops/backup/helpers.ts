// Shared by the backup tests: databases to restore into, a comparable snapshot of a database
// (schema text plus a digest of every row of every table and every sequence's value), the object
// list of an archive, and fault injection into the sandbox's emulated agent.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { extractTar, listTar } from '../../../src/ops/backup/tar.js';

/** The URL of `database` on the server of `url`. */
export function urlFor(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** CREATE DATABASE on the server of `url`; returns the new database's URL. */
export async function createDatabase(url: string, name: string, owner?: string): Promise<string> {
  await withClient(urlFor(url, 'postgres'), async (client) => {
    // A restore as the database's owner, not as a superuser (the server trusts loopback logins).
    if (owner) await client.query(`CREATE ROLE ${owner} LOGIN`);
    await client.query(`CREATE DATABASE ${name}${owner ? ` OWNER ${owner}` : ''}`);
  });
  const target = new URL(urlFor(url, name));
  if (owner) target.username = owner;
  return target.toString();
}

export async function sql<T = Record<string, unknown>>(url: string, text: string): Promise<T[]> {
  return withClient(url, async (client) => (await client.query(text)).rows as T[]);
}

export interface Snapshot {
  schema: string;
  rows: Record<string, string>;
  sequences: Record<string, string>;
}

/** Everything two databases must share to be "equal": schema text, every row, every sequence. */
export async function snapshot(url: string): Promise<Snapshot> {
  const schema = execFileSync('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', url], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  })
    .split('\n')
    // pg_dump's per-run random \restrict key and the comment lines naming the dump itself.
    .filter((line) => !/^\\(un)?restrict /.test(line) && !/^-- Dumped (from|by)/.test(line))
    .join('\n');
  return withClient(url, async (client) => {
    const tables = await client.query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
       ORDER BY 1, 2`,
    );
    const rows: Record<string, string> = {};
    for (const { schema, name } of tables.rows) {
      const id = `"${schema}"."${name}"`;
      const result = await client.query<{ digest: string; count: string }>(
        `SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest, count(*) AS count FROM ${id} t`,
      );
      rows[`${schema}.${name}`] = `${result.rows[0]!.count}:${result.rows[0]!.digest}`;
    }
    const sequences: Record<string, string> = {};
    const seqs = await client.query<{ schema: string; name: string }>(
      `SELECT schemaname AS schema, sequencename AS name FROM pg_sequences ORDER BY 1, 2`,
    );
    for (const { schema, name } of seqs.rows) {
      const value = await client.query<{ last_value: string; is_called: boolean }>(
        `SELECT last_value, is_called FROM "${schema}"."${name}"`,
      );
      sequences[`${schema}.${name}`] = `${value.rows[0]!.last_value}:${value.rows[0]!.is_called}`;
    }
    return { schema, rows, sequences };
  });
}

/** The archive's objects as `pg_restore -l` lists them, without dump ids and OIDs, sorted. */
export async function archiveObjects(file: string): Promise<string[]> {
  let path = file;
  let format = '-Fc';
  let scratch: string | undefined;
  if ((await import('node:fs')).readFileSync(file).subarray(257, 262).toString('latin1') === 'ustar') {
    scratch = mkdtempSync(join(tmpdir(), 'coderdb-objects-'));
    await extractTar(file, await listTar(file), scratch);
    path = scratch;
    format = '-Fd';
  }
  try {
    return execFileSync('pg_restore', ['-l', format, path], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => /^\d+;/.test(line))
      .map((line) => line.replace(/^\d+; \d+ \d+ /, ''))
      .sort();
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Sets the sandbox agent's fault plan for sessions opened from now on (or clears it). */
export async function setFaults(
  awsEndpoint: string,
  plan: Record<string, unknown> | undefined,
): Promise<void> {
  const response = await fetch(`${awsEndpoint}/_sandbox/faults`, {
    method: plan ? 'POST' : 'DELETE',
    ...(plan ? { body: JSON.stringify(plan), headers: { 'content-type': 'application/json' } } : {}),
  });
  if (!response.ok) throw new Error(`fault injection failed: ${response.status}`);
}
