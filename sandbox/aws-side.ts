// Wires the emulated AWS endpoint to the agent side of the data channel: ECS ExecuteCommand and
// SSM StartSession open sessions on the agent, WebSocket upgrades on the same port reach it, and
// /_sandbox/faults lets tests inject faults into sessions. The "container" the agent runs commands
// in sees CODER_PG_CONNECTION_URL pointing at the sandbox database, like the real task.

import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { delimiter, join } from 'node:path';
import { paths } from '../src/core/paths.js';
import { type Agent, createAgent, type FaultPlan, worldDestination } from './agent/index.js';
import { type AwsEndpoint, startAwsEndpoint } from './aws/server.js';
import { IDS } from './aws/world-ids.js';
import type { SandboxOptions } from './daemon.js';
import type { RunningDatabase } from './engines/types.js';

export interface AwsSide {
  url: string;
  agent: Agent;
  close(): Promise<void>;
}

export async function startAwsSide(database: RunningDatabase, options: SandboxOptions): Promise<AwsSide> {
  const scenario = options.scenario ?? 'healthy';
  const { decryptDataKey } = await import('./aws/server.js');
  // Port sessions reach the database only if the (current) world lets the task reach it.
  let endpoint: AwsEndpoint | undefined;
  const agent = createAgent({
    container: containerFor(database, scenario.split('+').includes('psql-missing')),
    decryptDataKey,
    pacing: options.realisticPacing ? 'realistic' : 'none',
    portDestination: worldDestination(() => endpoint?.world, database.url),
    ...(options.agentVersion ? { agentVersion: options.agentVersion } : {}),
  });
  endpoint = await startAwsEndpoint({
    databaseUrl: options.private ? privateUrl(database.url) : database.url,
    broker: agent.broker,
    onUpgrade: (req, socket, head) => agent.handleUpgrade(req, socket, head),
    control: (req, res) => controlRoute(agent, req, res),
    scenario,
    ...(options.awsPort ? { port: options.awsPort } : {}),
  });
  agent.setPublicUrl(endpoint.url);
  const started = endpoint;
  return {
    url: started.url,
    agent,
    async close() {
      await started.close();
      await agent.close();
    },
  };
}

/**
 * A private VPC's view of the database: the secret and the RDS endpoint name the instance's private
 * DNS name, which only the task can reach (the agent maps it to the sandbox database), so nothing
 * on this machine can connect directly, as from a laptop outside the VPC.
 */
function privateUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.hostname = IDS.dbEndpointAddress;
  return url.toString();
}

/** The task's environment: the database URL as Coder has it, and psql on the PATH or not. */
function containerFor(database: RunningDatabase, withoutPsql: boolean) {
  const home = join(paths.sandboxDir(), 'container-home');
  mkdirSync(home, { recursive: true });
  const path = withoutPsql ? [binWithoutPsql()] : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter);
  return {
    env: { CODER_PG_CONNECTION_URL: database.url, HOME: home, PSQLRC: '/dev/null' },
    path,
    cwd: home,
  };
}

/**
 * A bin directory like the official Coder image's: a shell and busybox-style tools, no psql, and an
 * `apk` that "installs" postgresql-client by linking this machine's psql in (so --install-client
 * can be exercised; like the real package, it stays installed until the sandbox restarts).
 */
function binWithoutPsql(): string {
  const dir = join(paths.sandboxDir(), 'bin-without-psql');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tools = [
    'sh',
    'bash',
    'base64',
    'cat',
    'env',
    'printf',
    'stty',
    'head',
    'tail',
    'tr',
    'gzip',
    'ls',
    'echo',
    'mktemp',
    'rm',
    'ln',
  ];
  for (const tool of tools) {
    const source = hostTool(tool);
    if (source) symlinkSync(source, join(dir, tool));
  }
  writeApkShim(dir);
  return dir;
}

function hostTool(tool: string, path: string[] = ['/usr/bin', '/bin']): string | undefined {
  return path.map((bin) => join(bin, tool)).find((candidate) => existsSync(candidate));
}

function writeApkShim(dir: string): void {
  const psql = hostTool('psql', (process.env.PATH ?? '/usr/bin:/bin').split(delimiter));
  const install = psql
    ? [`'${hostTool('ln')}' -sf '${psql}' '${join(dir, 'psql')}'`, "echo 'OK: postgresql-client installed'"]
    : [
        "echo 'ERROR: unable to select packages: postgresql-client (no psql on the sandbox host)' >&2",
        'exit 1',
      ];
  const script = [
    '#!/bin/sh',
    '# The sandbox stand-in for Alpine apk: only `apk add [--no-cache] postgresql-client`.',
    'case " $* " in',
    '  *" add "*" postgresql-client "*) ;;',
    '  *) echo "apk (sandbox): only \'apk add postgresql-client\' is emulated" >&2; exit 1 ;;',
    'esac',
    "echo 'fetch https://dl-cdn.alpinelinux.org/alpine/v3.20/main/x86_64/APKINDEX.tar.gz'",
    "echo '(1/1) Installing postgresql-client'",
    ...install,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'apk'), script, { mode: 0o755 });
}

async function controlRoute(agent: Agent, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://sandbox');
  if (url.pathname !== '/_sandbox/faults') return false;
  if (req.method === 'POST') {
    const body = await readJson(req);
    const sessionId = url.searchParams.get('session') ?? undefined;
    agent.faults.set(body as FaultPlan, sessionId);
    res.writeHead(204).end();
  } else if (req.method === 'DELETE') {
    agent.faults.clear(url.searchParams.get('session') ?? undefined);
    res.writeHead(204).end();
  } else if (req.method === 'GET') {
    const sessionId = url.searchParams.get('session');
    const body = sessionId
      ? { fired: agent.faults.fired(sessionId), stats: agent.stats(sessionId) ?? null }
      : {};
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  } else {
    res.writeHead(405).end();
  }
  return true;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('request too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}
