// The tunnel transport: node-postgres through an SSM port-forwarding session via the Coder task.
// RDS admits the task's security group, so the task can forward to the database with no bastion,
// no psql in the image and full PostgreSQL types on our side. `openTunnel` puts a listener on
// 127.0.0.1 in front of a PortSession (src/ssm/port-session.ts); `coderdb tunnel` serves laptop
// tools from it, `tunnelTransport` points the direct transport at it, and other code (backups with
// a local pg_dump) can get a local PgTarget from it.
//
// TLS: clients dial 127.0.0.1, which no database certificate names. sslmode=require and verify-ca
// do not check the name and work as they are. For verify-full the tunnel itself speaks
// PostgreSQL's SSLRequest and verifies the database's real host name, and hands out a plain local
// target (the plain leg never leaves this machine); libpq clients of `coderdb tunnel` instead keep
// verify-full with hostaddr=127.0.0.1, which libpq supports and node-postgres does not.

import { readFileSync } from 'node:fs';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { awsModule, resolveCredentialsEarly } from '../aws/clients.js';
import { fromAwsError } from '../aws/errors.js';
import type { AwsSession } from '../aws/session.js';
import { openPortChannel } from '../aws/sessions.js';
import { findTask, type TaskTarget } from '../aws/tasks.js';
import type { Profile } from '../core/config.js';
import { CoderdbError, connectionError, DOCTOR_HINT, usageError } from '../core/errors.js';
import { scrub } from '../core/secret.js';
import { loadWebSocket } from '../ssm/channel.js';
import { PORT_FORWARDING_DOCUMENT, PortSession } from '../ssm/port-session.js';
import { withTimeout } from '../ssm/timing.js';
import { directTransport, loadPg } from './direct.js';
import { describeTarget, type PgTarget } from './pg-url.js';
import { hasReader, iamAuthToken, resolveDirectTarget, resolveTarget, type SessionRole } from './resolve.js';
import type { Around, DbSession, QueryEvent, Transport } from './types.js';

export const TUNNEL_HOST = '127.0.0.1';
const TLS_TIMEOUT_MS = 15_000;

export interface TunnelOptions {
  /** Port on 127.0.0.1; 0 or absent picks a free one. */
  localPort?: number;
  /** With sslmode=verify-full, verify TLS inside the tunnel (see the top comment). Default true. */
  verifyTlsInTunnel?: boolean;
  /** A local connection the tunnel could not connect through (ConnectToPortError, TLS failure). */
  onRefused?: (error: CoderdbError) => void;
  log?: (line: string) => void;
  /**
   * Listen on this Unix socket instead of 127.0.0.1 (the warm-session holder, src/holder/): only
   * its owner can reach it. `localPort` is then 0.
   */
  socketPath?: string;
  /** Every local connection the tunnel takes (the holder counts them and watches them close). */
  onAccept?: (socket: Socket) => void;
}

export interface Tunnel {
  /** Where local clients connect: 127.0.0.1:localPort with the database's user, name and password. */
  readonly target: PgTarget;
  /** The database as the URL (or RDS) names it; its password is what `target` carries. */
  readonly database: PgTarget;
  readonly remote: { host: string; port: number };
  readonly localPort: number;
  readonly task: TaskTarget;
  readonly sessionId: string;
  readonly mode: 'mux' | 'basic';
  readonly agentVersion: string | undefined;
  /** Connections refused so far. */
  readonly refusals: number;
  readonly lastRefusal: CoderdbError | undefined;
  /** Resolves when the session is over: `error` unless it ended through close(). */
  readonly ended: Promise<{ error?: CoderdbError }>;
  readonly isEnded: boolean;
  /** `target` with a fresh RDS IAM token when the profile uses IAM authentication. */
  freshTarget(role?: SessionRole): Promise<PgTarget>;
  /** Ends the session (TerminateSession) and closes the listener and every connection. */
  close(): Promise<void>;
}

/** Opens a port-forwarding session through the Coder task and a listener on 127.0.0.1 for it. */
export async function openTunnel(
  profile: Profile,
  aws: AwsSession,
  options: TunnelOptions = {},
): Promise<Tunnel> {
  // Listen first: a taken port should fail before any session is started on AWS.
  const server = options.socketPath
    ? await listenOnSocket(options.socketPath)
    : await listen(options.localPort ?? 0);
  // The task is looked up while the database's address is resolved (Secrets Manager, RDS), and
  // node-postgres loads meanwhile; a failure of the database's resolution is still the one reported.
  resolveCredentialsEarly(profile);
  const taskLookup = findTask(aws, profile);
  taskLookup.catch(() => undefined);
  // Once the lookups are sent, what the session needs next loads while they are answered.
  aws.whenEcsRequestsSent(() => {
    aws.ssm().catch(() => undefined);
    loadPg().catch(() => undefined);
    loadWebSocket().catch(() => undefined);
  });
  try {
    const database = await resolveDirectTarget(profile, aws);
    const remote = await remoteEndpoint(database, profile, aws);
    const tls =
      options.verifyTlsInTunnel !== false && database.sslmode === 'verify-full'
        ? { host: remote.host, ...(database.sslrootcert ? { ca: readRootCert(database.sslrootcert) } : {}) }
        : undefined;
    const task = await taskLookup;
    const address = server.address();
    const localPort = typeof address === 'object' && address ? address.port : 0;
    const log = options.log;
    const channel = await openPortChannel(
      aws,
      task,
      { host: remote.host, port: remote.port, localPort },
      log ? { log } : {},
    ).catch((error: unknown) => {
      throw explainStartSession(error, task, profile);
    });
    const session = await PortSession.start(channel, log ? { log } : {});
    return new LocalTunnel(server, session, {
      profile,
      aws,
      database,
      remote,
      task,
      localPort,
      tls,
      options,
    });
  } catch (error) {
    server.close();
    throw error;
  }
}

interface TunnelParts {
  profile: Profile;
  aws: AwsSession;
  database: PgTarget;
  remote: { host: string; port: number };
  task: TaskTarget;
  localPort: number;
  tls: { host: string; ca?: string } | undefined;
  options: TunnelOptions;
}

class LocalTunnel implements Tunnel {
  readonly target: PgTarget;
  readonly database: PgTarget;
  readonly remote: { host: string; port: number };
  readonly localPort: number;
  readonly task: TaskTarget;
  readonly ended: Promise<{ error?: CoderdbError }>;
  refusals = 0;
  lastRefusal: CoderdbError | undefined;
  isEnded = false;
  readonly #server: Server;
  readonly #session: PortSession;
  readonly #parts: TunnelParts;
  readonly #sockets = new Set<Socket>();
  #closing: Promise<void> | undefined;

  constructor(server: Server, session: PortSession, parts: TunnelParts) {
    this.#server = server;
    this.#session = session;
    this.#parts = parts;
    this.database = parts.database;
    this.remote = parts.remote;
    this.localPort = parts.localPort;
    this.task = parts.task;
    this.target = localTarget(parts.database, parts.localPort, parts.tls !== undefined, parts.remote.host);
    server.on('connection', (socket) => this.#accept(socket));
    this.ended = session.closed.then((end) => {
      this.isEnded = true;
      this.#server.close();
      for (const socket of this.#sockets) socket.destroy();
      const error = this.#closing ? undefined : session.endError(end);
      return error ? { error } : {};
    });
  }

  get sessionId(): string {
    return this.#session.sessionId;
  }

  get mode(): 'mux' | 'basic' {
    return this.#session.mode.mode;
  }

  get agentVersion(): string | undefined {
    return this.#session.agentVersion;
  }

  async freshTarget(role: SessionRole = 'main'): Promise<PgTarget> {
    const { profile, aws, database } = this.#parts;
    if (role === 'reader' && hasReader(profile)) {
      // The tunnel leads to one host and port; the reader is another role there, so only the
      // credentials (and database) differ from the main target.
      const reader = await resolveTarget(profile, aws, 'reader');
      if (reader.host !== database.host || reader.port !== database.port) {
        throw usageError(
          'tunnel.reader-host',
          `the reader role's URL points at ${reader.host}:${reader.port}, but the tunnel leads to ${database.host}:${database.port}`,
          { hint: 'give readerUrl the same host and port as the main database URL' },
        );
      }
      const { password, ...local } = this.target;
      return {
        ...local,
        user: reader.user,
        database: reader.database,
        ...(reader.password ? { password: reader.password } : {}),
      };
    }
    if (!profile.iamAuth) return this.target;
    return { ...this.target, password: await iamAuthToken(database, profile, aws) };
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#server.close();
      // Each local close FINs its stream before the session itself is terminated.
      for (const socket of this.#sockets) socket.destroy();
      await this.#session.terminate();
      await this.ended;
    })();
    return this.#closing;
  }

  #accept(socket: Socket): void {
    if (this.#closing || this.isEnded) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    this.#parts.options.onAccept?.(socket);
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    void this.#bridge(socket);
  }

  async #bridge(socket: Socket): Promise<void> {
    let remote: Duplex;
    try {
      remote = await this.#session.connect();
      const tls = this.#parts.tls;
      if (tls) remote = await verifiedTls(remote, tls);
    } catch (error) {
      this.#refuse(socket, asCoderdbError(error));
      return;
    }
    if (socket.destroyed) {
      remote.destroy();
      return;
    }
    remote.on('error', (error) => {
      if (error instanceof CoderdbError && error.code === 'tunnel.connect-failed')
        this.#refuse(socket, error);
      else socket.destroy();
    });
    socket.once('close', () => remote.destroy());
    socket.pipe(remote);
    remote.pipe(socket);
  }

  /** Tells the local client why, in the one language it understands: a PostgreSQL FATAL. */
  #refuse(socket: Socket, error: CoderdbError): void {
    this.refusals += 1;
    this.lastRefusal = error;
    this.#parts.options.onRefused?.(error);
    if (!socket.destroyed) socket.end(errorResponse(error.message));
  }
}

/** The target node-postgres (or libpq) uses to reach the database through the local listener. */
function localTarget(
  database: PgTarget,
  localPort: number,
  tlsInTunnel: boolean,
  remoteHost: string,
): PgTarget {
  // URL parameters that would send a client elsewhere, or disclose the password, stay out.
  const { host: _host, hostaddr: _hostaddr, port: _port, password: _password, ...params } = database.params;
  let sslmode = database.sslmode;
  if (tlsInTunnel) sslmode = 'disable';
  // node-postgres never tries TLS for a loopback host under prefer; the database itself is not one.
  else if (sslmode === 'prefer' && !isLoopback(remoteHost)) sslmode = 'require';
  const { sslrootcert, ...rest } = database;
  return {
    ...rest,
    host: TUNNEL_HOST,
    port: localPort,
    sslmode,
    ...(sslrootcert && !tlsInTunnel ? { sslrootcert } : {}),
    params: { ...params, sslmode },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1';
}

/** The URL's host, unless it is not a usable host name (an unsubstituted ${DB_HOST}): then RDS's. */
async function remoteEndpoint(
  database: PgTarget,
  profile: Profile,
  aws: AwsSession,
): Promise<{ host: string; port: number }> {
  if (/^[A-Za-z0-9.:-]+$/.test(database.host)) return { host: database.host, port: database.port };
  const { DescribeDBInstancesCommand } = await awsModule('rds');
  try {
    const answer = await (await aws.rds()).send(
      new DescribeDBInstancesCommand({ DBInstanceIdentifier: profile.rdsInstance }),
    );
    const endpoint = answer.DBInstances?.[0]?.Endpoint;
    if (endpoint?.Address) return { host: endpoint.Address, port: endpoint.Port ?? database.port };
  } catch (error) {
    throw fromAwsError(error, 'rds:DescribeDBInstances', profile.rdsInstance);
  }
  throw connectionError(
    'tunnel.no-endpoint',
    `the database URL names no usable host and RDS instance ${profile.rdsInstance} has no endpoint`,
    { hint: DOCTOR_HINT },
  );
}

/** Port forwarding needs its own permission; say exactly which. */
function explainStartSession(error: unknown, task: TaskTarget, profile: Profile): unknown {
  if (!(error instanceof CoderdbError)) return error;
  if (error.code !== 'aws.access-denied' && error.code !== 'aws.InvalidDocument') return error;
  const taskArn = `arn:aws:ecs:${profile.region}:<account>:task/${task.cluster}/*`;
  const document = `arn:aws:ssm:${profile.region}::document/${PORT_FORWARDING_DOCUMENT}`;
  return connectionError(
    'tunnel.not-permitted',
    `port forwarding through the task is not allowed: ${error.message}`,
    {
      hint: `allow ssm:StartSession on ${taskArn} and on ${document} (port forwarding needs this, not ecs:ExecuteCommand)`,
      cause: error,
    },
  );
}

function listen(port: number): Promise<Server> {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    return Promise.reject(usageError('tunnel.port', `local port ${port} is not a port number`));
  }
  const server = createServer({ noDelay: true });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        usageError(
          'tunnel.port',
          `cannot listen on ${TUNNEL_HOST}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`,
          { hint: 'choose another --local-port, or leave it out for a free one' },
        ),
      );
    });
    // Never 0.0.0.0: the tunnel is a door to the database for whoever can reach the port.
    server.listen(port, TUNNEL_HOST, () => resolve(server));
  });
}

function listenOnSocket(path: string): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(usageError('tunnel.socket', `cannot listen on ${path}: ${error.code ?? error.message}`));
    });
    server.listen(path, () => resolve(server));
  });
}

// ── TLS inside the tunnel (sslmode=verify-full) ───────────────────────────────────────────────

/** PostgreSQL's SSLRequest: length 8, code 80877103. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** Negotiates TLS with the database over `stream`, verifying `host` (and `ca` when given). */
export async function verifiedTls(stream: Duplex, options: { host: string; ca?: string }): Promise<Duplex> {
  try {
    stream.write(SSL_REQUEST);
    const answer = await withTimeout(
      readByte(stream),
      TLS_TIMEOUT_MS,
      () => new Error('no answer to SSLRequest'),
    );
    if (answer !== 0x53) {
      throw connectionError('tunnel.tls-refused', `the database at ${options.host} does not offer TLS`, {
        hint: 'sslmode=verify-full needs TLS; use sslmode=disable only if that is intended',
      });
    }
    const socket = tlsConnect({
      socket: stream,
      host: options.host,
      // SNI must not carry an IP address (RFC 6066).
      ...(isIP(options.host) === 0 ? { servername: options.host } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      rejectUnauthorized: true,
    });
    socket.on('error', () => {});
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      }),
      TLS_TIMEOUT_MS,
      () => new Error('the TLS handshake timed out'),
    ).catch((error: unknown) => {
      socket.destroy();
      throw error;
    });
    return socket;
  } catch (error) {
    stream.destroy();
    if (error instanceof CoderdbError) throw error;
    throw connectionError(
      'tunnel.tls-failed',
      `TLS verification of ${options.host} failed: ${scrub((error as Error).message)}`,
      { hint: 'check sslrootcert (the RDS CA bundle) in the database URL', cause: error },
    );
  }
}

/** One byte, leaving anything after it unread for the TLS layer. */
function readByte(stream: Duplex): Promise<number> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('readable', attempt);
      stream.off('end', ended);
      stream.off('error', failed);
    };
    const attempt = () => {
      const chunk = stream.read(1) as Buffer | null;
      if (!chunk) return;
      cleanup();
      resolve(chunk[0] as number);
    };
    const ended = () => {
      cleanup();
      reject(new Error('the connection closed before the database answered'));
    };
    const failed = (error: Error) => {
      cleanup();
      reject(error);
    };
    stream.on('readable', attempt);
    stream.once('end', ended);
    stream.once('error', failed);
    attempt();
  });
}

/** A PostgreSQL ErrorResponse (FATAL, 08001) with `message`, for a client we cannot connect. */
export function errorResponse(message: string): Buffer {
  const field = (code: string, value: string) => Buffer.from(`${code}${value}\0`, 'utf8');
  const body = Buffer.concat([
    field('S', 'FATAL'),
    field('V', 'FATAL'),
    field('C', '08001'),
    field('M', message),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header[0] = 0x45;
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function asCoderdbError(error: unknown): CoderdbError {
  if (error instanceof CoderdbError) return error;
  const reason = scrub(error instanceof Error ? error.message : String(error));
  return connectionError('tunnel.connection-failed', `the tunnel could not carry the connection: ${reason}`, {
    hint: DOCTOR_HINT,
  });
}

function readRootCert(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError('tunnel.sslrootcert', `cannot read sslrootcert ${file}: ${(error as Error).message}`);
  }
}

// ── the transport ─────────────────────────────────────────────────────────────────────────────

/**
 * node-postgres over a tunnel. One tunnel serves all sessions a command has open at once (mux
 * carries them side by side) and is terminated when the last of them closes, so no session is
 * left running on AWS after the command.
 */
export function tunnelTransport(profile: Profile, aws: AwsSession, options: TunnelOptions = {}): Transport {
  let tunnel: Promise<Tunnel> | undefined;
  let users = 0;
  let described = 'tunnel through the Coder task';

  const acquire = async (): Promise<Tunnel> => {
    users += 1;
    try {
      let current = tunnel ? await tunnel : undefined;
      if (!current || current.isEnded) {
        tunnel = openTunnel(profile, aws, options);
        current = await tunnel;
      }
      described = `tunnel ${describeTarget(current.database)} via task ${current.task.taskId}`;
      return current;
    } catch (error) {
      users -= 1;
      tunnel = undefined;
      throw error;
    }
  };
  const release = async (current: Tunnel): Promise<void> => {
    users -= 1;
    if (users > 0) return;
    tunnel = undefined;
    await current.close();
  };
  /** A driver error caused by the tunnel is reported as the tunnel's error. */
  const explain = (current: Tunnel, refusedBefore: number, error: unknown): unknown => {
    if (current.refusals > refusedBefore && current.lastRefusal) return current.lastRefusal;
    return error;
  };

  return {
    name: 'tunnel',
    describe: () => described,
    async open(openOptions = {}): Promise<DbSession> {
      openOptions.signal?.throwIfAborted();
      const current = await acquire();
      const refusedBefore = current.refusals;
      // Ending the SSM session is what makes the agent drop its connection to the database, and
      // with it the transaction; leaving it to time out would keep its locks meanwhile.
      const { signal } = openOptions;
      const onAbort = () => void current.close();
      signal?.addEventListener('abort', onAbort, { once: true });
      let session: DbSession;
      try {
        session = await directTransport({
          name: 'tunnel',
          target: () => current.freshTarget(openOptions.role),
        }).open(openOptions);
      } catch (error) {
        signal?.removeEventListener('abort', onAbort);
        await release(current);
        throw explain(current, refusedBefore, error);
      }
      let released = false;
      // A statement that failed because the SSM session ended says why it ended.
      async function* explained(events: AsyncIterable<QueryEvent>) {
        try {
          yield* events;
        } catch (error) {
          if (current.isEnded) {
            const { error: ended } = await current.ended;
            if (ended) throw ended;
          }
          throw error;
        }
      }
      return {
        transport: session.transport,
        server: session.server,
        copyOut: session.copyOut,
        ...(session.cancel ? { cancel: () => session.cancel!() } : {}),
        execute: (sql: string) => explained(session.execute(sql)),
        ...(session.executeAround
          ? { executeAround: (sql: string, around: Around) => explained(session.executeAround!(sql, around)) }
          : {}),
        async close() {
          signal?.removeEventListener('abort', onAbort);
          try {
            await session.close();
          } finally {
            if (!released) {
              released = true;
              await release(current);
            }
          }
        },
      };
    },
  };
}
