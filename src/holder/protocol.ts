// The holder's control socket: one JSON line in, one JSON line out, then the connection closes.
// `hello` says what the holder holds, `target` hands a client where and as whom to connect through
// the relay (the password travels only over this socket of the user's, never to disk), `stop` ends
// the holder. Each request is bounded in size and time on both sides.

import { connect, createServer, type Server } from 'node:net';
import { CoderdbError, connectionError } from '../core/errors.js';
import type { PgTarget } from '../transport/pg-url.js';

export interface HolderInfo {
  pid: number;
  profile: string;
  region: string;
  cluster: string;
  transport: 'tunnel' | 'exec';
  /**
   * The database the session forwards to, without credentials; for exec, the container's URL
   * variable psql connects with (the URL itself never leaves the task).
   */
  database: string;
  task: string;
  /** The SSM session (tunnel); for exec, the one most recently opened. */
  sessionId: string;
  /** Tunnel only: a multiplexed or an old agent's single-connection session. */
  mode?: 'mux' | 'basic';
  /** Exec only: psql sessions held now (busy or idle). */
  sessions?: number;
  /** The AWS caller the holder found at start-up (STS), when it could. */
  identity: string | null;
  startedAt: string;
  /** When a client last finished (or the holder started); idle time counts from here. */
  lastUsedAt: string;
  /** `SELECT 1`s sent to keep a session from Session Manager's idle timeout. */
  keepAlives: number;
  /** Client connections relayed so far, and open now. */
  served: number;
  active: number;
  idleLimitMs: number;
  /** The end of its maximum lifetime (--for). */
  endsAt: string;
}

/** A PgTarget as JSON: the password revealed, for the one hop over the control socket. */
export type WireTarget = Omit<PgTarget, 'password'> & { password?: string };

export type ControlRequest = { op: 'hello' } | { op: 'target'; role: 'main' | 'reader' } | { op: 'stop' };

export type ControlReply =
  | { ok: true; info?: HolderInfo; target?: WireTarget }
  | { ok: false; code: string; message: string; hint?: string };

const MAX_LINE = 64 * 1024;
export const CONTROL_TIMEOUT_MS = 5_000;

/** Sends one request to the control socket at `path` and returns the reply. */
export function ask(
  path: string,
  request: ControlRequest,
  timeoutMs = CONTROL_TIMEOUT_MS,
): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let text = '';
    const fail = (why: string) => {
      socket.destroy();
      reject(connectionError('holder.unreachable', `the warm session at ${path} does not answer: ${why}`));
    };
    const timer = setTimeout(() => fail('timed out'), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_LINE) fail('the reply is too long');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(error.code ?? error.message);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text) as ControlReply);
      } catch {
        reject(connectionError('holder.protocol', `the warm session at ${path} sent no valid reply`));
      }
    });
  });
}

/** Listens on `path` and answers each request with `handle`'s reply. */
export function serveControl(
  path: string,
  handle: (request: ControlRequest) => Promise<ControlReply>,
): Promise<Server> {
  const server = createServer((socket) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(CONTROL_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_LINE) {
        socket.destroy();
        return;
      }
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      socket.removeAllListeners('data');
      let request: ControlRequest;
      try {
        request = JSON.parse(text.slice(0, newline)) as ControlRequest;
      } catch {
        socket.end(`${JSON.stringify({ ok: false, code: 'holder.protocol', message: 'not JSON' })}\n`);
        return;
      }
      handle(request)
        .catch((error: unknown) => failure(error))
        .then((reply) => socket.end(`${JSON.stringify(reply)}\n`));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function failure(error: unknown): ControlReply {
  if (error instanceof CoderdbError) {
    return {
      ok: false,
      code: error.code,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
    };
  }
  return {
    ok: false,
    code: 'holder.internal',
    message: error instanceof Error ? error.message : String(error),
  };
}
