// The warm-session holder: the background process `coderdb connect` starts. It holds one SSM
// port-forwarding session to the database (the tunnel transport's, listening on a Unix socket in
// the user's private holder directory instead of a TCP port) and a control socket beside it, so
// that later commands skip task discovery, StartSession and the WebSocket handshake and speak
// PostgreSQL through the relay with node-postgres, every read-path layer still on their side.
//
// It never outlives its reasons: it ends when idle for its limit, at its maximum lifetime, when the
// task it forwards through stops or is replaced (DescribeTasks, polled), when its AWS credentials
// expire, when the SSM session ends, or on `coderdb disconnect` / SIGTERM; ending terminates the SSM
// session (TerminateSession) and removes its sockets. Each end but a requested one leaves a one-line
// note that the next command prints before it opens a fresh session.

import { chmodSync, existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { awsModule, awsSettings } from '../aws/clients.js';
import type { AwsSession } from '../aws/session.js';
import type { Profile } from '../core/config.js';
import { usageError } from '../core/errors.js';
import { scrub } from '../core/secret.js';
import { directTransport } from '../transport/direct.js';
import { describeTarget, type PgTarget } from '../transport/pg-url.js';
import type { Tunnel } from '../transport/tunnel.js';
import { checkPrivate, type HolderFiles } from './dir.js';
import { formatDuration } from './duration.js';
import {
  ask,
  type ControlReply,
  type ControlRequest,
  type HolderInfo,
  serveControl,
  type WireTarget,
} from './protocol.js';

export interface HolderOptions {
  profile: Profile;
  aws: AwsSession;
  files: HolderFiles;
  /** Ends after this long with no client connection open. */
  idleLimitMs: number;
  /** Ends this long after it started, busy or not (--for). */
  lifetimeMs: number;
  /** How often the task is looked up (DescribeTasks). */
  taskPollMs: number;
  /**
   * How long the session may go without traffic before the holder sends some: Session Manager ends
   * sessions idle for 20 minutes. A multiplexed session's smux keep-alives already count as traffic;
   * an old agent's single-connection session gets a `SELECT 1` through the relay.
   */
  keepAliveMs: number;
  /** Called once the relay and the control socket answer. */
  onReady: (info: HolderInfo) => void;
  /** SIGTERM, SIGINT, SIGHUP (the CLI's interruption): end, terminating the session. */
  signal?: AbortSignal;
}

/**
 * Removes sockets a holder that crashed left behind (only the user's own), and refuses to start
 * beside a holder that still answers: two `coderdb connect` at once must not unlink each other.
 */
export async function removeStaleSockets(files: HolderFiles): Promise<void> {
  if (existsSync(files.control)) {
    checkPrivate(files.control, 'socket');
    const reply = await ask(files.control, { op: 'hello' }, 1_000).catch(() => undefined);
    if (reply?.ok) {
      throw usageError(
        'holder.running',
        `a warm session for profile ${reply.info?.profile} is already running`,
        {
          hint: 'coderdb connect --status lists it; coderdb disconnect ends it',
        },
      );
    }
  }
  for (const path of [files.control, files.relay]) {
    if (!existsSync(path)) continue;
    checkPrivate(path, 'socket');
    unlinkSync(path);
  }
}

/** Runs the holder until it ends; resolves with why it ended. */
export async function runHolder(options: HolderOptions): Promise<string> {
  const { profile, aws, files } = options;
  await removeStaleSockets(files);
  rmQuiet(files.ended);
  const startedAt = Date.now();
  let lastUsedAt = startedAt;
  let served = 0;
  let active = 0;
  let pinging = false;
  /** Traffic on the SSM session (clients or keep-alives), which Session Manager's idle timeout sees. */
  let lastTrafficAt = startedAt;
  let keepAlives = 0;
  let keepAliveAccepted = false;

  const { openTunnel } = await import('../transport/tunnel.js');
  const tunnel: Tunnel = await openTunnel(profile, aws, {
    socketPath: files.relay,
    onAccept(socket) {
      // The keep-alive's own connection is the first one taken while it runs; any other is a client.
      const isKeepAlive = pinging && !keepAliveAccepted;
      if (isKeepAlive) keepAliveAccepted = true;
      else served += 1;
      active += 1;
      socket.once('close', () => {
        active -= 1;
        lastTrafficAt = Date.now();
        if (!isKeepAlive) lastUsedAt = lastTrafficAt;
      });
    },
  });

  let resolveEnd!: (reason: string) => void;
  const ended = new Promise<string>((resolve) => {
    resolveEnd = resolve;
  });
  let ending: string | undefined;
  const timers: NodeJS.Timeout[] = [];
  const end = (reason: string, note = true): void => {
    if (ending) return;
    ending = reason;
    for (const timer of timers) clearTimeout(timer);
    if (note) {
      try {
        writeFileSync(files.ended, `${reason}\n`, { mode: 0o600 });
      } catch {
        // The next command then finds no holder and opens a fresh session all the same.
      }
    }
    resolveEnd(reason);
  };

  const identity = await aws.identity().catch(() => undefined);
  const info = (): HolderInfo => ({
    pid: process.pid,
    profile: profile.name,
    region: profile.region,
    cluster: profile.cluster,
    transport: 'tunnel',
    database: describeTarget(tunnel.database),
    task: tunnel.task.taskId,
    sessionId: tunnel.sessionId,
    mode: tunnel.mode,
    identity: identity ?? null,
    startedAt: new Date(startedAt).toISOString(),
    lastUsedAt: new Date(lastUsedAt).toISOString(),
    keepAlives,
    served,
    active,
    idleLimitMs: options.idleLimitMs,
    endsAt: new Date(startedAt + options.lifetimeMs).toISOString(),
  });

  const handle = async (request: ControlRequest): Promise<ControlReply> => {
    if (ending) return { ok: false, code: 'holder.ending', message: `the warm session is ending: ${ending}` };
    switch (request.op) {
      case 'hello':
        return { ok: true, info: info() };
      case 'target':
        return { ok: true, target: toWire(await tunnel.freshTarget(request.role)) };
      case 'stop':
        setImmediate(() => end('disconnected', false));
        return { ok: true, info: info() };
      default:
        return { ok: false, code: 'holder.protocol', message: 'unknown request' };
    }
  };
  const control = await serveControl(files.control, handle).catch(async (error: unknown) => {
    await tunnel.close();
    throw error;
  });
  // The directory (0700) is the boundary; the sockets say the same on their own.
  for (const path of [files.control, files.relay]) chmodSync(path, 0o600);

  const every = (ms: number, work: () => void) => {
    const timer = setInterval(work, ms);
    timers.push(timer);
  };
  const once = (ms: number, work: () => void) => {
    // setTimeout cannot wait longer than about 24 days; nothing here needs to.
    timers.push(setTimeout(work, Math.min(ms, 2 ** 31 - 1)));
  };

  once(options.lifetimeMs, () =>
    end(`it reached its maximum lifetime (${formatDuration(options.lifetimeMs)})`),
  );
  every(Math.max(200, Math.min(5_000, Math.trunc(options.idleLimitMs / 4))), () => {
    if (active === 0 && !pinging && Date.now() - lastUsedAt >= options.idleLimitMs) {
      end(`it was idle for ${formatDuration(options.idleLimitMs)}`);
    }
  });
  let polling = false;
  every(options.taskPollMs, () => {
    if (polling) return;
    polling = true;
    void taskGone(aws, tunnel)
      .then((why) => {
        if (why) end(why);
      })
      .finally(() => {
        polling = false;
      });
  });
  void credentialsExpiry(profile).then((expiresAt) => {
    if (!expiresAt || ending) return;
    once(expiresAt - Date.now(), () =>
      end(`its AWS credentials expired at ${new Date(expiresAt).toISOString()}`),
    );
  });
  if (tunnel.mode === 'basic') {
    every(Math.max(1_000, Math.trunc(options.keepAliveMs / 4)), () => {
      if (active > 0 || pinging || Date.now() - lastTrafficAt < options.keepAliveMs) return;
      pinging = true;
      keepAliveAccepted = false;
      void keepAlive(tunnel, files.relay).finally(() => {
        pinging = false;
        keepAlives += 1;
        // The idle limit counts from the last client, not from keep-alives.
        lastTrafficAt = Date.now();
      });
    });
  }
  void tunnel.ended.then(({ error }) => {
    end(error ? `its SSM session ended: ${scrub(error.message)}` : 'its SSM session ended');
  });
  const onSignal = () => end('it was stopped by a signal', false);
  if (options.signal?.aborted) onSignal();
  options.signal?.addEventListener('abort', onSignal, { once: true });

  options.onReady(info());
  const reason = await ended;
  options.signal?.removeEventListener('abort', onSignal);
  control.close();
  rmQuiet(files.control);
  // TerminateSession, and every relayed connection closed with it.
  await tunnel.close().catch(() => undefined);
  rmQuiet(files.relay);
  return reason;
}

/** Why the task the session forwards through is no longer there to use, or undefined while it is. */
async function taskGone(aws: AwsSession, tunnel: Tunnel): Promise<string | undefined> {
  const { DescribeTasksCommand } = await awsModule('ecs');
  const { task } = tunnel;
  try {
    const answer = await (await aws.ecs()).send(
      new DescribeTasksCommand({ cluster: task.cluster, tasks: [task.taskArn] }),
    );
    const found = answer.tasks?.[0];
    if (!found) return `its task ${task.taskId} is gone (replaced by a new deployment?)`;
    if (found.lastStatus === 'RUNNING' && found.desiredStatus !== 'STOPPED') return undefined;
    const why = found.stoppedReason ? `: ${found.stoppedReason}` : '';
    return `its task ${task.taskId} is ${(found.desiredStatus === 'STOPPED' ? 'stopping' : (found.lastStatus ?? 'gone')).toLowerCase()}${why}`;
  } catch (error) {
    const name = (error as { name?: string }).name ?? '';
    if (/Expired|InvalidClientTokenId|UnrecognizedClient/.test(name)) return 'its AWS credentials expired';
    // Anything else (a network blip) is tried again at the next poll.
    return undefined;
  }
}

/** When the credentials the holder uses expire (temporary credentials), else undefined. */
async function credentialsExpiry(profile: Profile): Promise<number | undefined> {
  try {
    const credentials = await awsSettings(profile).credentials();
    return credentials.expiration?.getTime();
  } catch {
    return undefined;
  }
}

/** One `SELECT 1` through the relay: traffic on the SSM session with no effect on the database. */
async function keepAlive(tunnel: Tunnel, relay: string): Promise<void> {
  try {
    const session = await directTransport({
      name: 'tunnel',
      target: () => tunnel.freshTarget(),
      socket: () => socketTo(relay),
    }).open({ applicationName: 'coderdb keep-alive' });
    try {
      for await (const _event of session.execute('SELECT 1')) {
        // drained
      }
    } finally {
      await session.close();
    }
  } catch {
    // A failing session ends through tunnel.ended; nothing to do here.
  }
}

/** A socket node-postgres drives as usual, except that it always connects to the Unix socket `path`. */
export function socketTo(path: string): Socket {
  const socket = new Socket();
  const connect = socket.connect.bind(socket);
  socket.connect = ((..._ignored: unknown[]) => connect(path)) as Socket['connect'];
  return socket;
}

function toWire(target: PgTarget): WireTarget {
  const { password, ...rest } = target;
  return { ...rest, ...(password ? { password: password.reveal() } : {}) };
}

function rmQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}
