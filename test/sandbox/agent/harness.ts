// Test harness: the emulated agent behind a tiny loopback HTTP server that routes WebSocket
// upgrades the way the emulated AWS endpoint will, plus helpers to open client channels against it
// and to wait for output with a deadline. Everything it starts is stopped by `close()`.

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { type Agent, type AgentOptions, createAgent } from '../../../sandbox/agent/index.js';
import type { ExecSessionRequest } from '../../../sandbox/session-broker.js';
import { DataChannel, type DataChannelOptions } from '../../../src/ssm/channel.js';
import { within } from '../../helpers/wait.js';

export const CONTAINER_PATH = ['/usr/local/bin', '/usr/bin', '/bin'];

export interface Loopback {
  agent: Agent;
  url: string;
  close(): Promise<void>;
}

export async function startLoopback(options: AgentOptions = {}): Promise<Loopback> {
  const agent = createAgent({ container: { path: CONTAINER_PATH }, pacing: 'none', ...options });
  const server: Server = createServer((_request, response) => {
    response.statusCode = 404;
    response.end();
  });
  server.on('upgrade', (request, socket, head) => agent.handleUpgrade(request, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent.setPublicUrl(url);
  return {
    agent,
    url,
    async close() {
      await agent.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function execRequest(command: string, extra: Partial<ExecSessionRequest> = {}): ExecSessionRequest {
  return {
    kind: 'exec',
    cluster: 'coder',
    taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/coder/0123456789abcdef',
    taskId: '0123456789abcdef',
    container: 'coder',
    runtimeId: '0123456789abcdef-1234',
    command,
    ...extra,
  };
}

export const TARGET_ID = 'ecs:coder_0123456789abcdef_0123456789abcdef-1234';

/** Opens a session on the agent and a client channel to it, wired for resume and terminate. */
export async function openExec(
  loopback: Loopback,
  command: string,
  options: Partial<DataChannelOptions> = {},
  request: Partial<ExecSessionRequest> = {},
): Promise<DataChannel> {
  const grant = loopback.agent.broker.open(execRequest(command, request));
  return DataChannel.open({
    streamUrl: grant.streamUrl,
    token: grant.tokenValue,
    sessionId: grant.sessionId,
    resumeSession: async () => loopback.agent.broker.resume(grant.sessionId)?.tokenValue,
    terminateSession: async () => {
      loopback.agent.broker.terminate(grant.sessionId);
    },
    ...options,
  });
}

/** Accumulates a stream as it flows, to wait for markers and for the end. */
export class Collector {
  readonly #chunks: Buffer[] = [];
  #waiters: Array<() => void> = [];
  readonly ended: Promise<Buffer>;

  constructor(stream: Readable) {
    stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.ended = new Promise<Buffer>((resolve, reject) => {
      stream.once('end', () => resolve(this.bytes()));
      stream.once('error', reject);
    });
    this.ended.catch(() => {});
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  text(): string {
    return this.bytes().toString('utf8');
  }

  async waitFor(marker: string, ms = 20_000): Promise<void> {
    const seen = async () => {
      while (!this.text().includes(marker)) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    };
    await within(seen(), ms, JSON.stringify(marker));
  }

  all(ms = 60_000): Promise<Buffer> {
    return within(this.ended, ms, 'the end of the output');
  }
}

/** Output as the pty wrote it, with its ONLCR \r\n turned back into \n. */
export function unCrlf(bytes: Buffer | string): string {
  return bytes.toString().replace(/\r\n/g, '\n');
}

/** Deterministic pseudo-random bytes: a SHA-256 counter stream. */
export function seededBytes(length: number, seed = 'coderdb'): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; i * 32 < length; i++) blocks.push(createHash('sha256').update(`${seed}:${i}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}

/** What GNU base64 prints: 76-column lines, each ending in \n. */
export function base64Lines(bytes: Buffer): string {
  const encoded = bytes.toString('base64');
  let out = '';
  for (let i = 0; i < encoded.length; i += 76) out += `${encoded.slice(i, i + 76)}\n`;
  return out;
}

export function seqLines(count: number): string {
  let out = '';
  for (let i = 1; i <= count; i++) out += `${i}\n`;
  return out;
}

/** A stand-in for KMS: data keys whose blob names the key, decryptable only under the same context. */
export function createTestKms() {
  const issued = new Map<string, { plaintext: Buffer; keyId: string; context: Record<string, string> }>();
  let counter = 0;
  const calls = { generate: 0, decrypt: 0 };
  return {
    calls,
    provider: {
      async generateDataKey(request: {
        keyId: string;
        encryptionContext: Record<string, string>;
        numberOfBytes: number;
      }) {
        calls.generate += 1;
        const plaintext = seededBytes(request.numberOfBytes, `key-${counter}`);
        const blob = Buffer.from(`blob-${counter++}`);
        issued.set(blob.toString(), { plaintext, keyId: request.keyId, context: request.encryptionContext });
        return { plaintext, ciphertextBlob: blob };
      },
    },
    decryptDataKey(blob: Buffer, context: Record<string, string>, keyId: string): Buffer {
      calls.decrypt += 1;
      const entry = issued.get(blob.toString());
      if (!entry) throw new Error('InvalidCiphertextException');
      if (entry.keyId !== keyId) throw new Error('IncorrectKeyException');
      const same =
        Object.keys(entry.context).length === Object.keys(context).length &&
        Object.entries(entry.context).every(([key, value]) => context[key] === value);
      if (!same) throw new Error('InvalidCiphertextException: encryption context mismatch');
      return entry.plaintext;
    },
  };
}
