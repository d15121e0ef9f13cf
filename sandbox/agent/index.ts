// The sandbox's emulated agent side of SSM Session Manager: the SessionBroker the emulated ECS and
// SSM APIs call (ExecuteCommand, StartSession, ResumeSession, TerminateSession), and the WebSocket
// endpoint behind each session's stream URL. The emulated AWS HTTP server routes upgrades on
// /v1/data-channel/<sessionId> to `handleUpgrade`; everything else about a session lives in
// AgentSession.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { SessionBroker, SessionGrant, SessionRequest } from '../session-broker.js';
import { AgentSession, type AgentSessionStats, type DecryptDataKey } from './agent-session.js';
import type { ContainerEnvironment } from './command.js';
import { FaultController } from './faults.js';
import { loopbackDestination, type PortDestination } from './port-destination.js';
import type { Pacing } from './pty-process.js';

export type { AgentSessionStats, DecryptDataKey } from './agent-session.js';
export type { ContainerEnvironment } from './command.js';
export { FaultController, type FaultCounters, type FaultPlan } from './faults.js';
export { type PortDestination, worldDestination } from './port-destination.js';
export type { Pacing } from './pty-process.js';

export interface AgentOptions {
  /** The container commands run in: environment, PATH (with or without psql), working directory. */
  container?: ContainerEnvironment;
  /** The emulated KMS, for sessions whose request carries a kmsKeyId. */
  decryptDataKey?: DecryptDataKey;
  /** AgentVersion claimed in handshakes; it selects the client's port-forwarding mode. */
  agentVersion?: string;
  /** 'realistic': 1 KiB messages ~1 ms apart and the agent's start-up waits; 'none': as fast as possible. */
  pacing?: Pacing;
  /** ECS Exec does not handshake unless the cluster has a KMS key; 'session-type' forces one. */
  execHandshake?: 'none' | 'session-type';
  handshakeTimeoutMs?: number;
  /** How long the agent waits for its output to be acknowledged before channel_closed. */
  drainTimeoutMs?: number;
  /** How long a session survives a dropped client socket. */
  resumeWindowMs?: number;
  /** How long a new session waits for its first client connection. */
  connectTimeoutMs?: number;
  /** Where port sessions connect; loopback destinations as they are by default. */
  portDestination?: PortDestination;
  /** http(s)://host:port of the server that routes upgrades here; settable later. */
  publicUrl?: string;
  log?: (line: string) => void;
}

export interface Agent {
  broker: SessionBroker;
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  setPublicUrl(url: string): void;
  faults: FaultController;
  /** Counters of a session (also after it ended), for tests to assert a fault really happened. */
  stats(sessionId: string): AgentSessionStats | undefined;
  close(): Promise<void>;
}

const PATH_PREFIX = '/v1/data-channel/';

export function createAgent(options: AgentOptions = {}): Agent {
  const sessions = new Map<string, AgentSession>();
  const faults = new FaultController();
  const server = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const log = options.log ?? (() => {});
  let publicUrl = options.publicUrl;
  let closed = false;

  function streamUrl(sessionId: string): string {
    if (!publicUrl) throw new Error('the agent has no public URL yet; call setPublicUrl first');
    const base = new URL(publicUrl);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    base.pathname = `${PATH_PREFIX}${sessionId}`;
    base.search = '?role=publish_subscribe';
    return base.toString();
  }

  function grant(session: AgentSession, token: string): SessionGrant {
    return { sessionId: session.id, tokenValue: token, streamUrl: streamUrl(session.id) };
  }

  function sessionIdFor(request: SessionRequest): string {
    const suffix = randomBytes(9).toString('hex').slice(0, 17);
    return request.kind === 'exec' ? `ecs-execute-command-${suffix}` : `coderdb-${suffix}`;
  }

  const broker: SessionBroker = {
    open(request) {
      if (closed) throw new Error('the sandbox agent is closed');
      const sessionId = sessionIdFor(request);
      const session = new AgentSession({
        sessionId,
        request,
        targetId:
          request.kind === 'exec'
            ? `ecs:${request.cluster}_${request.taskId}_${request.runtimeId}`
            : request.target,
        container: options.container ?? {},
        agentVersion: options.agentVersion ?? '3.3.987.0',
        pacing: options.pacing ?? 'realistic',
        execHandshake: options.execHandshake ?? 'none',
        decryptDataKey: options.decryptDataKey,
        handshakeTimeoutMs: options.handshakeTimeoutMs ?? 15_000,
        drainTimeoutMs: options.drainTimeoutMs ?? 2_000,
        resumeWindowMs: options.resumeWindowMs ?? 120_000,
        connectTimeoutMs: options.connectTimeoutMs ?? 60_000,
        faults: faults.forSession(sessionId),
        portDestination: options.portDestination ?? loopbackDestination,
        log,
      });
      sessions.set(sessionId, session);
      log(`[${sessionId}] opened (${request.kind})`);
      return grant(session, session.token);
    },
    resume(sessionId) {
      const session = sessions.get(sessionId);
      if (!session?.resumable) return undefined;
      return grant(session, session.reissueToken());
    },
    terminate(sessionId) {
      const session = sessions.get(sessionId);
      if (!session) return false;
      session.terminate();
      return true;
    },
    ended(sessionId) {
      return sessions.get(sessionId)?.ended ?? false;
    },
  };

  function refuse(socket: Duplex, status: string): void {
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  }

  return {
    broker,
    faults,
    setPublicUrl(url) {
      publicUrl = url;
    },
    stats(sessionId) {
      const stats = sessions.get(sessionId)?.stats;
      return stats ? structuredClone(stats) : undefined;
    },
    handleUpgrade(request, socket, head) {
      const path = new URL(request.url ?? '/', 'http://agent').pathname;
      const sessionId = path.startsWith(PATH_PREFIX)
        ? decodeURIComponent(path.slice(PATH_PREFIX.length))
        : '';
      const session = sessions.get(sessionId);
      if (closed || !session) {
        refuse(socket, '404 Not Found');
        return;
      }
      server.handleUpgrade(request, socket, head, (ws) => session.attach(ws));
    },
    async close() {
      closed = true;
      for (const session of sessions.values()) session.shutdown();
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
