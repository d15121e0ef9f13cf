// The default sandbox engine: PGlite (PostgreSQL compiled to WebAssembly, nothing to install),
// served over the PostgreSQL wire protocol on 127.0.0.1 by pglite-socket so that any client
// (node-postgres, psql) can connect. Creating a PGlite cluster and loading the fixture takes
// seconds, so the loaded cluster is kept as a template in the cache directory and each start
// loads a fresh copy of it in about one second.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunningDatabase } from './types.js';

export interface PgliteOptions {
  /** SQL that creates the schema and data of a fresh cluster. */
  fixture: string;
  cacheDir: string;
  port?: number;
}

export async function startPglite(options: PgliteOptions): Promise<RunningDatabase> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const template = await loadOrCreateTemplate(options, PGlite);
  const db = await PGlite.create({ loadDataDir: template });
  // Connections are multiplexed onto PGlite's single backend; a transaction keeps its connection
  // exclusive until it ends.
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: options.port ?? 0,
    maxConnections: 64,
  });
  await server.start();
  resetSessionWhenIdle(server, db);
  const port = Number(server.getServerConn().split(':').at(-1));
  return {
    engine: 'pglite',
    url: `postgresql://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    version: (await db.query<{ v: string }>('SHOW server_version')).rows[0]!.v,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}

type PgliteClass = typeof import('@electric-sql/pglite').PGlite;
type PgliteDb = InstanceType<PgliteClass>;
type SocketServer = InstanceType<typeof import('@electric-sql/pglite-socket').PGLiteSocketServer>;

/**
 * Every connection shares PGlite's one backend, so what a client sets for its session (pg_dump's
 * empty search_path, a role, a prepared statement, a temp table) would otherwise stay for the
 * next client. When the last connection closes, the backend is reset the way a new session would
 * find it. Connections that overlap still share state; that is PGlite's nature, and the postgres
 * engine has none of it.
 */
function resetSessionWhenIdle(server: SocketServer, db: PgliteDb): void {
  // The server keeps its connection handlers in a Set and tells us only of new connections.
  const handlers = (server as unknown as { handlers: Set<EventTarget> }).handlers;
  const watched = new WeakSet<EventTarget>();
  let resetting = Promise.resolve();
  const resetIfIdle = () => {
    resetting = resetting.then(async () => {
      if (handlers.size > 0) return;
      try {
        if (db.isInTransaction()) await db.exec('ROLLBACK');
        await db.exec('DISCARD ALL');
      } catch {
        // A client that connects in between gets the state as it is; nothing else can be done.
      }
    });
  };
  server.addEventListener('connection', () => {
    for (const handler of handlers) {
      if (watched.has(handler)) continue;
      watched.add(handler);
      // The server removes the handler from its set in its own listener; ours runs after it.
      for (const event of ['close', 'error'])
        handler.addEventListener(event, () => setImmediate(resetIfIdle));
    }
  });
}

async function loadOrCreateTemplate(options: PgliteOptions, PGlite: PgliteClass): Promise<Blob> {
  const key = createHash('sha256').update(pgliteVersion()).update(options.fixture).digest('hex').slice(0, 16);
  const file = join(options.cacheDir, `pglite-template-${key}.tar`);
  try {
    return new Blob([readFileSync(file)]);
  } catch {
    // Not cached yet: build it.
  }
  const db = await PGlite.create();
  try {
    await db.exec(options.fixture);
    const dump = await db.dumpDataDir('none');
    mkdirSync(options.cacheDir, { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, Buffer.from(await dump.arrayBuffer()));
    renameSync(temporary, file);
    return dump;
  } finally {
    await db.close();
  }
}

/** The installed PGlite's version, from the package.json above its entry point. */
function pgliteVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  for (let depth = 0; depth < 5; depth++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === '@electric-sql/pglite' && pkg.version) return pkg.version;
    } catch {
      // keep looking upwards
    }
    dir = dirname(dir);
  }
  return 'unknown';
}
