// The soak run: N seeded random sessions (exec and port; with and without KMS; multiplexed and
// basic port mode) between the real client (DataChannel, PortSession, smux) and the emulated agent
// on 127.0.0.1, each under a random mix of the agent's faults (sandbox/agent/faults.ts). Known data
// goes both ways, cut at awkward UTF-8 and frame boundaries, and every byte that comes back is
// checked by hash. A session that does not finish within its bound counts as hung.
// `npm run soak` (bench/soak/main.ts) and test/ssm/soak.test.ts both call `runSoak`.

import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FaultCounters, FaultPlan } from '../../sandbox/agent/index.js';
import { DataChannel } from '../../src/ssm/channel.js';
import { STREAM_PAYLOAD_LIMIT } from '../../src/ssm/codec.js';
import { PORT_FORWARDING_DOCUMENT, PortSession } from '../../src/ssm/port-session.js';
import { within } from '../../test/helpers/wait.js';
import {
  Collector,
  createTestKms,
  execRequest,
  type Loopback,
  seqLines,
  startLoopback,
  TARGET_ID,
} from '../../test/sandbox/agent/harness.js';
import { Prng } from './prng.js';

export type SessionKind = 'exec' | 'exec+kms' | 'port-smux' | 'port-basic';
export const SESSION_KINDS: readonly SessionKind[] = ['exec', 'exec+kms', 'port-smux', 'port-basic'];

export type Outcome = 'ok' | 'lost' | 'corrupted' | 'duplicated' | 'hung' | 'failed';

export interface SoakOptions {
  sessions: number;
  seed: number;
  /** Sessions running at once. */
  concurrency?: number;
  /** Upper bound of the bytes one session sends each way (roughly). */
  maxBytes?: number;
  /** A session still running after this long is hung. */
  boundMs?: number;
  /** One line per session that is not ok (and per session, when verbose). */
  log?: (line: string) => void;
  verbose?: boolean;
  /** Replay only these session indexes of the seed (each session's draws depend only on the seed). */
  only?: number[];
}

export interface SessionResult {
  index: number;
  kind: SessionKind;
  plan: FaultPlan;
  outcome: Outcome;
  /** Bytes that had to arrive (both directions). */
  bytes: number;
  fired: Partial<FaultCounters>;
  detail?: string;
}

export interface SoakReport {
  seed: number;
  sessions: number;
  bytes: number;
  lost: number;
  corrupted: number;
  duplicated: number;
  hung: number;
  failed: number;
  byKind: Record<SessionKind, number>;
  fired: Record<string, number>;
  results: SessionResult[];
  elapsedMs: number;
}

/** Whether the run proved what it should: every count of trouble is zero. */
export function soakPassed(report: SoakReport): boolean {
  return (
    report.lost + report.corrupted + report.duplicated + report.hung + report.failed === 0 &&
    report.sessions > 0
  );
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Compares by hash; a mismatch is named by what it looks like from the lengths. */
export function classify(expected: Buffer, received: Buffer): Outcome {
  if (sha(expected) === sha(received)) return 'ok';
  if (received.length < expected.length) return 'lost';
  if (received.length > expected.length) return 'duplicated';
  return 'corrupted';
}

/** Where two byte strings part, for the report of a session that was not ok. */
export function difference(expected: Buffer, received: Buffer): string | undefined {
  if (expected.equals(received)) return undefined;
  let at = 0;
  while (at < expected.length && at < received.length && expected[at] === received[at]) at++;
  const around = (bytes: Buffer) =>
    JSON.stringify(bytes.subarray(Math.max(0, at - 20), at + 40).toString('utf8'));
  return `expected ${expected.length} bytes, got ${received.length}, first difference at ${at}: expected ${around(expected)}, got ${around(received)}`;
}

/** A random mix of faults; each kind is present with some probability, with a small budget. */
export function randomPlan(rng: Prng): FaultPlan {
  const plan: FaultPlan = {};
  if (rng.chance(0.4)) plan.dropOutputs = rng.int(1, 4);
  if (rng.chance(0.3)) plan.corruptDigest = rng.int(1, 3);
  if (rng.chance(0.4)) plan.duplicateOutputs = rng.int(1, 8);
  if (rng.chance(0.4)) plan.reorderOutputs = rng.int(1, 8);
  if (rng.chance(0.3)) plan.duplicateAcks = rng.int(1, 8);
  if (rng.chance(0.3)) {
    plan.withholdAcks = rng.chance(0.5) ? { count: rng.int(1, 4) } : { durationMs: rng.int(50, 400) };
  }
  if (rng.chance(0.3)) {
    plan.dropSocketAfterOutputs = rng.int(0, 30);
    // Now and then more than one resume in a session.
    if (rng.chance(0.3)) plan.dropSocketTimes = rng.int(2, 4);
  }
  if (rng.chance(0.25))
    plan.pausePublication = { afterOutputs: rng.int(0, 20), durationMs: rng.int(50, 300) };
  return plan;
}

/** Ends an exec session's output; made of letters the random text never contains. */
const END_MARKER = 'SOAK-END';

// Characters of 1 to 4 UTF-8 bytes, none of them a control character a cooked pty would act on.
const TEXT_ALPHABET = ['a', 'b', 'z', 'Q', '0', ' ', '~', 'é', 'ß', 'Ж', '€', '中', '語', '𝄞', '😀'];

/** Lines of printable UTF-8 text, about `bytes` long, each under a pty's canonical line limit. */
export function randomText(rng: Prng, bytes: number): string {
  let out = '';
  let length = 0;
  while (length < bytes) {
    let line = '';
    const chars = rng.int(0, 120);
    for (let i = 0; i < chars; i++) line += rng.pick(TEXT_ALPHABET);
    line += '\n';
    out += line;
    length += Buffer.byteLength(line);
  }
  return out;
}

/** Splits `data` into chunks whose sizes favour the awkward: 1–3 bytes and either side of a frame. */
export function awkwardChunks(rng: Prng, data: Buffer): Buffer[] {
  const sizes = [1, 2, 3, STREAM_PAYLOAD_LIMIT - 1, STREAM_PAYLOAD_LIMIT, STREAM_PAYLOAD_LIMIT + 1];
  const chunks: Buffer[] = [];
  let offset = 0;
  while (offset < data.length) {
    const size = rng.chance(0.5) ? rng.pick(sizes) : rng.int(1, 3 * STREAM_PAYLOAD_LIMIT);
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

function kindFor(rng: Prng): SessionKind {
  return rng.pick(SESSION_KINDS);
}

interface Running {
  expectedBytes: number;
  /** Resolves with the outcome; rejects on a failure. */
  done: Promise<{ outcome: Outcome; detail?: string }>;
  sessionId: () => string | undefined;
  /** Stops whatever the session still holds (used for hung sessions, harmless otherwise). */
  abort: () => Promise<void>;
}

function startExec(
  rng: Prng,
  loopback: Loopback,
  kms: ReturnType<typeof createTestKms> | undefined,
  maxBytes: number,
): Running {
  const text = Buffer.from(randomText(rng, rng.int(1, maxBytes)));
  const lines = rng.int(1, Math.max(1, Math.floor(maxBytes / 6)));
  // The command does not exit: the session ends by TerminateSession once the marker is in. A
  // command that exits races the sandbox's pty, which can drop its last output when the machine
  // is loaded (node-pty closes the pty 200 ms after the child exits); that is no channel fault.
  const command = `sh -c 'stty -echo; echo READY; cat; seq 1 ${lines}; echo ${END_MARKER}; exec sleep 600'`;
  const expected = Buffer.concat([
    Buffer.from('READY\r\n'),
    Buffer.from(text.toString('utf8').replace(/\n/g, '\r\n')),
    Buffer.from(seqLines(lines).replace(/\n/g, '\r\n')),
    Buffer.from(`${END_MARKER}\r\n`),
  ]);
  let channel: DataChannel | undefined;
  const done = (async () => {
    const grant = loopback.agent.broker.open(
      execRequest(command, kms ? { kmsKeyId: 'arn:aws:kms:soak' } : {}),
    );
    channel = await DataChannel.open({
      streamUrl: grant.streamUrl,
      token: grant.tokenValue,
      sessionId: grant.sessionId,
      resumeSession: async () => loopback.agent.broker.resume(grant.sessionId)?.tokenValue,
      terminateSession: async () => {
        loopback.agent.broker.terminate(grant.sessionId);
      },
      ...(kms ? { encryption: { kms: kms.provider, targetId: TARGET_ID } } : {}),
    });
    const out = new Collector(channel.output);
    await out.waitFor('READY', 1_000_000);
    for (const chunk of awkwardChunks(rng, text)) channel.write(chunk);
    await channel.flush();
    // EOF for cat: ^D at the start of a line.
    channel.write('\u0004');
    await out.waitFor(`${END_MARKER}\r\n`, 1_000_000);
    const end = await channel.terminate();
    const received = await out.all(1_000_000);
    if (end.error) return { outcome: 'failed' as const, detail: `${end.error.code}: ${end.error.message}` };
    const outcome = classify(expected, received);
    if (outcome === 'ok') return { outcome };
    // Whether the channel lost what the agent sent, or the agent never sent it.
    const agent = loopback.agent.stats(grant.sessionId);
    const counts = `agent sent ${agent?.messagesSent} messages, the client received ${channel.stats.messagesReceived}`;
    return { outcome, detail: `${difference(expected, received)}; ${counts}` };
  })();
  return {
    expectedBytes: text.length + expected.length,
    done,
    sessionId: () => channel?.sessionId,
    abort: async () => {
      channel?.close();
    },
  };
}

async function roundTrip(rng: Prng, connection: Duplex, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  const back = new Promise<Buffer>((resolve, reject) => {
    connection.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      // Anything beyond the data would be a duplicate; wait a moment for it before judging.
      if (received >= data.length) setTimeout(() => resolve(Buffer.concat(chunks)), 20);
    });
    connection.once('error', reject);
    connection.once('end', () => resolve(Buffer.concat(chunks)));
  });
  for (const chunk of awkwardChunks(rng, data)) connection.write(chunk);
  return back;
}

function startPort(rng: Prng, loopback: Loopback, echoPort: number, maxBytes: number, mux: boolean): Running {
  const streams = mux ? rng.int(1, 3) : 1;
  const payloads = Array.from({ length: streams }, () => rng.bytes(rng.int(1, maxBytes)));
  let session: PortSession | undefined;
  let channel: DataChannel | undefined;
  const done = (async () => {
    const grant = loopback.agent.broker.open({
      kind: 'port',
      target: TARGET_ID,
      documentName: PORT_FORWARDING_DOCUMENT,
      parameters: { host: ['127.0.0.1'], portNumber: [String(echoPort)], localPortNumber: ['0'] },
    });
    channel = await DataChannel.open({
      streamUrl: grant.streamUrl,
      token: grant.tokenValue,
      sessionId: grant.sessionId,
      handshake: 'required',
      resumeSession: async () => loopback.agent.broker.resume(grant.sessionId)?.tokenValue,
      terminateSession: async () => {
        loopback.agent.broker.terminate(grant.sessionId);
      },
    });
    session = await PortSession.start(channel);
    const opened = session;
    const outcomes = await Promise.all(
      payloads.map(async (data) => {
        const connection = await opened.connect();
        const back = await roundTrip(rng, connection, data);
        connection.end();
        return classify(data, back);
      }),
    );
    const end = await session.terminate();
    const bad = outcomes.find((outcome) => outcome !== 'ok');
    if (bad) return { outcome: bad };
    if (end.error) return { outcome: 'failed' as const, detail: `${end.error.code}: ${end.error.message}` };
    return { outcome: 'ok' as const };
  })();
  return {
    expectedBytes: payloads.reduce((sum, data) => sum + 2 * data.length, 0),
    done,
    sessionId: () => channel?.sessionId,
    abort: async () => {
      if (session) await within(session.terminate(), 5_000, 'terminate').catch(() => channel?.close());
      else channel?.close();
    },
  };
}

async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function runSession(
  index: number,
  rng: Prng,
  echoPort: number,
  options: Required<Pick<SoakOptions, 'maxBytes' | 'boundMs'>>,
): Promise<SessionResult> {
  const kind = kindFor(rng);
  const plan = randomPlan(rng);
  const kms = kind === 'exec+kms' ? createTestKms() : undefined;
  const loopback = await startLoopback({
    drainTimeoutMs: 10_000,
    ...(kind === 'port-basic' ? { agentVersion: '3.0.161.0' } : {}),
    ...(kms ? { decryptDataKey: kms.decryptDataKey } : {}),
  });
  loopback.agent.faults.set(plan);
  const running =
    kind === 'exec' || kind === 'exec+kms'
      ? startExec(rng, loopback, kms, options.maxBytes)
      : startPort(rng, loopback, echoPort, options.maxBytes, kind === 'port-smux');
  let outcome: Outcome;
  let detail: string | undefined;
  try {
    ({ outcome, detail } = await within(running.done, options.boundMs, 'the session'));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    outcome = message.startsWith('timed out after') ? 'hung' : 'failed';
    detail = message;
    running.done.catch(() => {});
  }
  await running.abort();
  const sessionId = running.sessionId();
  const fired = sessionId ? loopback.agent.faults.fired(sessionId) : {};
  await loopback.close();
  return { index, kind, plan, outcome, bytes: running.expectedBytes, fired, ...(detail ? { detail } : {}) };
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const started = Date.now();
  const settings = { maxBytes: options.maxBytes ?? 64 * 1024, boundMs: options.boundMs ?? 60_000 };
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const master = new Prng(options.seed);
  // Each session's generator is drawn up front, so results do not depend on scheduling.
  const generators = Array.from({ length: options.sessions }, () => master.fork());
  const results: SessionResult[] = [];
  const echo = await echoServer();
  try {
    let next = 0;
    const worker = async () => {
      for (;;) {
        const index = next++;
        const rng = generators[index];
        if (!rng) return;
        if (options.only && !options.only.includes(index)) continue;
        const result = await runSession(index, rng, echo.port, settings);
        results.push(result);
        if (result.outcome !== 'ok' || options.verbose) {
          options.log?.(
            `session ${index} ${result.kind} ${result.outcome}${result.detail ? ` (${result.detail})` : ''} plan=${JSON.stringify(result.plan)}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await echo.close();
  }
  results.sort((a, b) => a.index - b.index);
  const count = (outcome: Outcome) => results.filter((result) => result.outcome === outcome).length;
  const byKind = Object.fromEntries(SESSION_KINDS.map((kind) => [kind, 0])) as Record<SessionKind, number>;
  const fired: Record<string, number> = {};
  for (const result of results) {
    byKind[result.kind] += 1;
    for (const [fault, times] of Object.entries(result.fired))
      fired[fault] = (fired[fault] ?? 0) + (times ?? 0);
  }
  return {
    seed: options.seed,
    sessions: results.length,
    bytes: results.reduce((sum, result) => sum + result.bytes, 0),
    lost: count('lost'),
    corrupted: count('corrupted'),
    duplicated: count('duplicated'),
    hung: count('hung'),
    failed: count('failed'),
    byKind,
    fired,
    results,
    elapsedMs: Date.now() - started,
  };
}

/** The report as a Markdown table, with the session mix and the faults that fired. */
export function formatReport(report: SoakReport): string {
  const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  const lines = [
    row(['sessions', 'bytes', 'lost', 'corrupted', 'duplicated', 'hung', 'failed']),
    row(['---:', '---:', '---:', '---:', '---:', '---:', '---:']),
    row([
      report.sessions,
      report.bytes,
      report.lost,
      report.corrupted,
      report.duplicated,
      report.hung,
      report.failed,
    ]),
    '',
    `seed ${report.seed}, ${(report.elapsedMs / 1000).toFixed(1)} s; sessions: ${SESSION_KINDS.map((kind) => `${kind} ${report.byKind[kind]}`).join(', ')}`,
    `faults fired: ${
      Object.entries(report.fired)
        .filter(([, times]) => times > 0)
        .map(([fault, times]) => `${fault} ${times}`)
        .join(', ') || 'none'
    }`,
  ];
  return lines.join('\n');
}
