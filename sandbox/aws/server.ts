// The sandbox's AWS: one loopback HTTP endpoint that speaks the real wire protocols of ECS, SSM,
// Secrets Manager, KMS, STS, IAM, RDS, EC2 and CloudWatch Logs, so the real SDK v3 clients and
// the real AWS CLI work against it (AWS_ENDPOINT_URL). It also serves `/_sandbox/*` control
// routes (health, world, scenario switching, plus any the orchestrator adds) and hands WebSocket
// upgrades on `/v1/data-channel/…` to the agent side.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import type { SessionBroker } from '../session-broker.js';
import type { WireResponse } from './protocol/wire.js';
import { routeAwsCall } from './router.js';
import { applyScenario, SCENARIOS } from './scenarios.js';
import type { RuntimeState } from './services/types.js';
import { buildWorld, redactedWorld, type World } from './world.js';

export { SANDBOX_ACCESS_KEY_ID, SANDBOX_SECRET_ACCESS_KEY } from './auth.js';
export { decryptDataKey } from './kms-keyring.js';

export interface AwsEndpointOptions {
  /** The sandbox database URL: it goes into the secret and the RDS endpoint. */
  databaseUrl: string;
  /** Opens data-channel sessions for ECS ExecuteCommand and SSM StartSession. */
  broker?: SessionBroker;
  /** Receives WebSocket upgrades on `/v1/data-channel/…` (the agent side). */
  onUpgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Extra `/_sandbox/*` routes; return true when the request was handled. */
  control?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  /** Initial scenario (default `healthy`); `a+b` combines scenarios. */
  scenario?: string;
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
}

export interface AwsEndpoint {
  /** `http://127.0.0.1:PORT`, for AWS_ENDPOINT_URL or a client's `endpoint`. */
  readonly url: string;
  /** The current world (replaced by setScenario). */
  readonly world: World;
  /** Rebuilds the world for a scenario; throws on an unknown name. */
  setScenario(name: string): void;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;
const CLOSE_TIMEOUT_MS = 5_000;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, wire: WireResponse): void {
  const body = Buffer.from(wire.body, 'utf8');
  res.writeHead(wire.status, { ...wire.headers, 'content-length': String(body.length) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });
}

/**
 * What callers wrote to CloudWatch Logs (streams they created, groups they made) outlives a
 * scenario switch, as it would outlive a change to the deployment; seeded streams are rebuilt.
 */
function keepWrittenLogs(from: World, to: World): World {
  for (const group of from.logGroups) {
    const next = to.logGroups.find((g) => g.name === group.name);
    if (!next) {
      if (group.createdByCaller) to.logGroups.push(group);
      continue;
    }
    for (const stream of group.streams) {
      if (!next.streams.some((s) => s.name === stream.name)) next.streams.push(stream);
    }
  }
  return to;
}

export async function startAwsEndpoint(options: AwsEndpointOptions): Promise<AwsEndpoint> {
  const build = (name: string) => applyScenario(buildWorld({ databaseUrl: options.databaseUrl }), name);
  let world = build(options.scenario ?? 'healthy');
  const state: RuntimeState = { sessions: new Map(), issuedKeys: new Map() };
  const deps = { world: () => world, broker: options.broker, state };
  let url = '';

  async function sandboxRoute(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (req.method === 'GET' && path === '/_sandbox/health') {
      sendJson(res, 200, { ok: true, scenario: world.scenario, url });
    } else if (req.method === 'GET' && path === '/_sandbox/world') {
      sendJson(res, 200, redactedWorld(world));
    } else if (req.method === 'GET' && path === '/_sandbox/scenarios') {
      sendJson(
        res,
        200,
        Object.entries(SCENARIOS).map(([name, s]) => ({ name, description: s.description })),
      );
    } else if (req.method === 'POST' && path === '/_sandbox/scenario') {
      let name: unknown;
      try {
        name = (JSON.parse((await readBody(req)).toString('utf8') || '{}') as { name?: unknown }).name;
      } catch {
        sendJson(res, 400, { error: 'expected a JSON body {"name": "<scenario>"}' });
        return;
      }
      if (typeof name !== 'string') {
        sendJson(res, 400, { error: 'expected a JSON body {"name": "<scenario>"}' });
        return;
      }
      try {
        world = keepWrittenLogs(world, build(name));
        sendJson(res, 200, { scenario: world.scenario });
      } catch (e) {
        sendJson(res, 400, { error: e instanceof Error ? e.message : String(e) });
      }
    } else if (!(options.control && (await options.control(req, res)))) {
      sendJson(res, 404, { error: `no sandbox route ${req.method} ${path}` });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (target.pathname.startsWith('/_sandbox/')) {
      await sandboxRoute(req, res, target.pathname);
      return;
    }
    let body = await readBody(req);
    if (/gzip/i.test(String(req.headers['content-encoding'] ?? ''))) body = gunzipSync(body);
    const wire = await routeAwsCall(
      { method: req.method ?? 'GET', url: target, headers: req.headers, body },
      deps,
    );
    send(res, wire);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: e instanceof Error ? e.message : String(e) });
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (options.onUpgrade && path.startsWith('/v1/data-channel/')) {
      options.onUpgrade(req, socket, head);
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    get world() {
      return world;
    },
    setScenario(name: string) {
      world = keepWrittenLogs(world, build(name));
    },
    close() {
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeAllConnections();
      });
    },
  };
}
