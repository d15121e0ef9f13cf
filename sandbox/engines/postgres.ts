// The postgres engine: a real PostgreSQL server from a local installation (Debian's `postgresql`
// package), in a temporary directory on a free loopback port. Needed where version-matched client
// tools matter: Debian 12's pg_dump 15 refuses PGlite's PostgreSQL 18.

import pg from 'pg';
import { startPostgres } from './postgres-server.js';
import type { RunningDatabase } from './types.js';

export interface PostgresEngineOptions {
  fixture: string;
  port?: number;
  database?: string;
}

export async function startPostgresEngine(options: PostgresEngineOptions): Promise<RunningDatabase> {
  const server = await startPostgres(options.port ? { port: options.port } : {});
  const database = options.database ?? 'coder';
  try {
    const admin = new pg.Client({ connectionString: server.url('postgres') });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${database}`);
    } finally {
      await admin.end();
    }
    const client = new pg.Client({ connectionString: server.url(database) });
    await client.connect();
    let version: string;
    try {
      await client.query(options.fixture);
      version = (await client.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    } finally {
      await client.end();
    }
    return {
      engine: 'postgres',
      url: `${server.url(database)}${server.url(database).includes('?') ? '&' : '?'}sslmode=disable`,
      version,
      serverDir: server.dir,
      close: () => server.stop(),
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
