// The direct transport: node-postgres straight to the database (or to the local end of a tunnel).
// Rows are pulled through a portal in batches, so a result of any size streams in bounded memory,
// and values stay in PostgreSQL's text format so that every transport prints the same thing.

import pg from 'pg';
import Cursor from 'pg-cursor';
import type { TransportName } from '../core/config.js';
import { type Field, type RawRow, typeFromOid } from '../core/pgtypes.js';
import { fromPgError } from './pg-errors.js';
import { describeTarget, type PgTarget, toClientConfig } from './pg-url.js';
import type { DbSession, OpenOptions, QueryEvent, ServerInfo, Transport } from './types.js';

const BATCH_ROWS = 2000;
const CLOSE_TIMEOUT_MS = 5000;

/** Every value arrives as the server's text; parsing is left to the output layer. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

/** Session settings that make text output the same on every server and every transport. */
export const SESSION_SETUP =
  "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'";
export const SERVER_INFO_QUERY =
  "SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version, " +
  'current_database() AS database, current_user AS "user"';

export interface DirectTransportOptions {
  name?: TransportName;
  /** Resolves where to connect (URL from flag, env or Secrets Manager; IAM token). */
  target: () => Promise<PgTarget>;
}

export function directTransport(options: DirectTransportOptions): Transport {
  let described = 'database (not yet resolved)';
  const name = options.name ?? 'direct';
  return {
    name,
    describe: () => described,
    async open(openOptions: OpenOptions = {}) {
      const target = await options.target();
      described = `${name} ${describeTarget(target)}`;
      return connect(target, name, openOptions);
    },
  };
}

async function connect(target: PgTarget, transport: TransportName, options: OpenOptions): Promise<DbSession> {
  const where = describeTarget(target);
  const config = toClientConfig(target, options.applicationName ?? 'coderdb');
  let client: pg.Client;
  try {
    client = await connectClient(config);
  } catch (error) {
    // libpq's sslmode=prefer falls back to plain text when the server has no TLS; do the same.
    if (target.sslmode === 'prefer' && config.ssl && /does not support SSL/i.test(String(error))) {
      client = await connectClient({ ...config, ssl: false }).catch((retry: unknown) => {
        throw fromPgError(retry, where);
      });
    } else {
      throw fromPgError(error, where);
    }
  }
  try {
    const results = (await client.query(
      `${SESSION_SETUP}; ${SERVER_INFO_QUERY}`,
    )) as unknown as pg.QueryResult[];
    const info = results.at(-1)!.rows[0] as { num: number; version: string; database: string; user: string };
    const server: ServerInfo = {
      versionNum: info.num,
      version: info.version,
      database: info.database,
      user: info.user,
    };
    return new PgSession(client, server, transport, where);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw fromPgError(error, where);
  }
}

async function connectClient(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  // A dropped connection surfaces through the running query; this keeps it from crashing the process.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

class PgSession implements DbSession {
  readonly #notices: QueryEvent[] = [];

  constructor(
    private readonly client: pg.Client,
    readonly server: ServerInfo,
    readonly transport: TransportName,
    private readonly where: string,
  ) {
    client.on('notice', (notice) => {
      this.#notices.push({
        kind: 'notice',
        severity: notice.severity ?? 'NOTICE',
        message: notice.message ?? '',
      });
    });
  }

  async *execute(sql: string): AsyncGenerator<QueryEvent> {
    const cursor = this.client.query(new Cursor(sql, undefined, { rowMode: 'array', types: RAW_TEXT }));
    let sentFields = false;
    let finished = false;
    try {
      while (!finished) {
        let rows: RawRow[];
        try {
          rows = (await cursor.read(BATCH_ROWS)) as RawRow[];
        } catch (error) {
          finished = true;
          throw fromPgError(error, this.where);
        }
        yield* this.#drainNotices();
        const result = (cursor as unknown as { _result: pg.QueryResult })._result;
        if (!sentFields && result.fields.length > 0) {
          sentFields = true;
          yield { kind: 'fields', fields: result.fields.map(toField) };
        }
        if (rows.length > 0) yield { kind: 'rows', rows };
        if ((cursor as unknown as { state: string }).state === 'done' || rows.length === 0) {
          finished = true;
          yield* this.#drainNotices();
          yield { kind: 'done', command: result.command ?? '', rowCount: result.rowCount ?? null };
        }
      }
    } finally {
      if (!finished) await cursor.close().catch(() => undefined);
    }
  }

  *#drainNotices(): Generator<QueryEvent> {
    while (this.#notices.length > 0) yield this.#notices.shift()!;
  }

  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
    });
    await Promise.race([this.client.end().catch(() => undefined), timeout]);
    clearTimeout(timer);
  }
}

function toField(field: pg.FieldDef): Field {
  return { name: field.name, type: typeFromOid(field.dataTypeID) };
}
