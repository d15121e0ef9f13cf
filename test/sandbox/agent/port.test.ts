// Port-forwarding sessions end to end between the real client (DataChannel + PortSession, smux)
// and the emulated agent, over real sockets: handshake, mode choice from the agent's version,
// concurrent multiplexed connections, ConnectToPortError, basic mode, TerminateSession and a
// dropped socket. The destination is a TCP echo server on 127.0.0.1.

import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentOptions } from '../../../sandbox/agent/index.js';
import { loopbackDestination } from '../../../sandbox/agent/port-destination.js';
import { OutputPump } from '../../../sandbox/agent/port-output.js';
import { agentPortMode } from '../../../sandbox/agent/port-plugin.js';
import { DataChannel } from '../../../src/ssm/channel.js';
import {
  agentVersionAbove,
  choosePortMode,
  PORT_FORWARDING_DOCUMENT,
  PortSession,
} from '../../../src/ssm/port-session.js';
import { within } from '../../helpers/wait.js';
import { type Loopback, seededBytes, startLoopback, TARGET_ID } from './harness.js';

let echo: Server;
let echoPort: number;
const echoSockets = new Set<Socket>();

beforeAll(async () => {
  echo = createServer((socket) => {
    echoSockets.add(socket);
    socket.once('close', () => echoSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of echoSockets) socket.destroy();
  await new Promise<void>((resolve) => echo.close(() => resolve()));
});

let loopback: Loopback | undefined;
let sessions: PortSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.map((session) => session.terminate()));
  sessions = [];
  await loopback?.close();
  loopback = undefined;
});

async function openPort(options: AgentOptions = {}, port = echoPort) {
  loopback = await startLoopback(options);
  const agent = loopback.agent;
  const grant = agent.broker.open({
    kind: 'port',
    target: TARGET_ID,
    documentName: PORT_FORWARDING_DOCUMENT,
    parameters: { host: ['127.0.0.1'], portNumber: [String(port)], localPortNumber: ['0'] },
  });
  const channel = await DataChannel.open({
    streamUrl: grant.streamUrl,
    token: grant.tokenValue,
    sessionId: grant.sessionId,
    handshake: 'required',
    resumeSession: async () => agent.broker.resume(grant.sessionId)?.tokenValue,
    terminateSession: async () => {
      agent.broker.terminate(grant.sessionId);
    },
  });
  const session = await within(PortSession.start(channel), 10_000, 'the port session');
  sessions.push(session);
  return { session, channel, agent, sessionId: grant.sessionId };
}

/** Sends `data` through a connection to the echo server and returns what came back. */
async function roundTrip(connection: Duplex, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let received = 0;
  const back = new Promise<Buffer>((resolve, reject) => {
    connection.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received >= data.length) resolve(Buffer.concat(chunks));
    });
    connection.once('error', reject);
    connection.once('end', () => resolve(Buffer.concat(chunks)));
  });
  connection.write(data);
  return within(back, 30_000, `${data.length} bytes back`);
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('port sessions against the emulated agent', () => {
  it('handshakes as a Port session with the document properties and multiplexes for a current agent', async () => {
    const { session, channel, agent, sessionId } = await openPort();
    expect(channel.session).toMatchObject({
      sessionType: 'Port',
      agentVersion: '3.3.987.0',
      properties: {
        portNumber: String(echoPort),
        type: 'LocalPortForwarding',
        host: '127.0.0.1',
        localPortNumber: '0',
      },
    });
    expect(session.mode).toEqual({ mode: 'mux', keepAlive: false, terminateWithFlag: true });
    expect(agent.stats(sessionId)?.clientVersion).toBe('1.2.677.0');
    const connection = await session.connect();
    expect((await roundTrip(connection, Buffer.from('hello'))).toString()).toBe('hello');
    connection.end();
  });

  it('carries 20 concurrent connections over one session, each byte for byte', async () => {
    const { session } = await openPort();
    const results = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const data = seededBytes(50_000 + i * 997, `stream-${i}`);
        const connection = await session.connect();
        const back = await roundTrip(connection, data);
        connection.end();
        return sha(back) === sha(data);
      }),
    );
    expect(results).toEqual(Array(20).fill(true));
  });

  it('reports ConnectToPortError for a connection the agent cannot dial, and keeps the others', async () => {
    let dials = 0;
    const { session, agent, sessionId } = await openPort({
      // The first dial fails the way a blocked security group would; later ones succeed.
      portDestination: (host, port) =>
        ++dials === 1
          ? { ok: false, error: `dial tcp ${host}:${port}: connect: connection timed out` }
          : loopbackDestination(host, port),
    });
    const flagged = new Promise<void>((resolve) => session.once('connectError', resolve));
    const refused = await session.connect();
    const failure = new Promise<Error>((resolve) => refused.once('error', resolve));
    refused.write('are you there?');
    const error = await within(failure, 10_000, 'the refusal');
    await within(flagged, 1000, 'the connectError event');
    expect(error.message).toMatch(/^connection to the database port failed/);
    expect((error as { code?: string }).code).toBe('tunnel.connect-failed');
    const fine = await session.connect();
    expect((await roundTrip(fine, Buffer.from('still here'))).toString()).toBe('still here');
    fine.end();
    expect(agent.stats(sessionId)?.closedWith).toBeUndefined();
  });

  it('ends with Flag TerminateSession, after which the agent closes the session cleanly', async () => {
    const { session, agent, sessionId } = await openPort();
    const connection = await session.connect();
    await roundTrip(connection, Buffer.from('x'));
    const closed = new Promise<Error | undefined>((resolve) => {
      connection.once('close', () => resolve(undefined));
      connection.once('error', resolve);
    });
    const end = await within(session.terminate(), 10_000, 'terminate');
    expect(end.reason).toBe('channel-closed');
    expect(end.error).toBeUndefined();
    await within(closed, 5000, 'the connection to close');
    expect(agent.stats(sessionId)?.flagsReceived).toContain(2);
    expect(agent.stats(sessionId)?.closedWith).toBe('');
  });

  it('survives a dropped socket in the middle of a transfer', async () => {
    const { session, agent, sessionId } = await openPort();
    agent.faults.set({ dropSocketAfterOutputs: 40 }, sessionId);
    const data = seededBytes(1_000_000, 'drop');
    const connection = await session.connect();
    const back = await roundTrip(connection, data);
    connection.end();
    expect(sha(back)).toBe(sha(data));
    expect(agent.faults.fired(sessionId).dropSocketAfterOutputs).toBe(1);
    expect(agent.stats(sessionId)?.connections).toBeGreaterThanOrEqual(2);
  });

  it('works with realistic pacing', async () => {
    const { session } = await openPort({ pacing: 'realistic' });
    const data = seededBytes(100_000, 'paced');
    const connection = await session.connect();
    expect(sha(await roundTrip(connection, data))).toBe(sha(data));
    connection.end();
  });

  it('falls back to basic mode for an agent of 3.0.196.0 or older: one connection at a time', async () => {
    const { session, agent, sessionId } = await openPort({ agentVersion: '3.0.161.0' });
    expect(session.mode).toEqual({ mode: 'basic', keepAlive: false, terminateWithFlag: true });
    const first = await session.connect();
    let secondReady = false;
    const second = session.connect().then((connection) => {
      secondReady = true;
      return connection;
    });
    expect((await roundTrip(first, Buffer.from('one'))).toString()).toBe('one');
    expect(secondReady).toBe(false);
    const firstClosed = new Promise((resolve) => first.once('close', resolve));
    first.end();
    await within(firstClosed, 5000, 'the first connection to close');
    const next = await within(second, 5000, 'the second connection');
    const data = seededBytes(200_000, 'basic');
    expect(sha(await roundTrip(next, data))).toBe(sha(data));
    next.destroy();
    await within(
      (async () => {
        while ((agent.stats(sessionId)?.flagsReceived.filter((f) => f === 1).length ?? 0) < 2) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
      5000,
      'two DisconnectToPort flags',
    );
  });

  it('ends a basic session whose first dial fails, saying the port could not be reached', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const { session } = await openPort({ agentVersion: '3.0.161.0' }, closedPort);
    const end = await within(session.closed, 10_000, 'the session to end');
    const error = session.endError(end);
    expect(error?.code).toBe('tunnel.connect-failed');
    expect(error?.message).toMatch(/connection refused/);
    await expect(session.connect()).rejects.toThrow(/connection to the database port failed/);
  });
});

describe('choosing the mode from versions (§7.1)', () => {
  it('compares agent versions the way the plugin does', () => {
    expect(agentVersionAbove('3.0.196.0', '3.0.196.0')).toBe(false);
    expect(agentVersionAbove('3.0.196.1', '3.0.196.0')).toBe(true);
    expect(agentVersionAbove('3.3.987.0', '3.0.196.0')).toBe(true);
    expect(agentVersionAbove('2.99.9999.9', '3.0.196.0')).toBe(false);
    // Different component counts and non-numbers are "not supported".
    expect(agentVersionAbove('3.1', '3.0.196.0')).toBe(false);
    expect(agentVersionAbove('3.x.0.0', '3.0.196.0')).toBe(false);
    expect(agentVersionAbove('3.0.196.1rc', '3.0.196.0')).toBe(false);
    // Like Go's loop, the first differing component decides before a bad one is reached.
    expect(agentVersionAbove('3.3.987.0-beta', '3.0.196.0')).toBe(true);
    expect(agentVersionAbove('', '3.0.196.0')).toBe(false);
    expect(agentVersionAbove(undefined, '3.0.196.0')).toBe(false);
  });

  it('uses smux above 3.0.196.0, with keepalive up to 3.1.1511.0', () => {
    expect(choosePortMode('3.0.196.0')).toEqual({ mode: 'basic', keepAlive: false, terminateWithFlag: true });
    expect(choosePortMode('2.3.722.0')).toEqual({
      mode: 'basic',
      keepAlive: false,
      terminateWithFlag: false,
    });
    expect(choosePortMode('3.0.222.0')).toEqual({ mode: 'mux', keepAlive: true, terminateWithFlag: true });
    expect(choosePortMode('3.1.1511.0')).toEqual({ mode: 'mux', keepAlive: true, terminateWithFlag: true });
    expect(choosePortMode('3.1.1512.0')).toEqual({ mode: 'mux', keepAlive: false, terminateWithFlag: true });
  });

  it('has the emulated agent decide the same way from both versions', () => {
    expect(agentPortMode('3.3.987.0', '1.2.677.0')).toEqual({ mux: true, keepAlive: false });
    expect(agentPortMode('3.3.987.0', '1.2.331.0')).toEqual({ mux: true, keepAlive: true });
    expect(agentPortMode('3.3.987.0', undefined)).toEqual({ mux: false, keepAlive: true });
    expect(agentPortMode('3.1.1000.0', '1.2.677.0')).toEqual({ mux: true, keepAlive: true });
    expect(agentPortMode('3.0.161.0', '1.2.677.0').mux).toBe(false);
  });
});

describe('the agent output pump', () => {
  it('sends at most 1024 bytes per message, cutting and coalescing what is queued', async () => {
    const sent: Buffer[] = [];
    const pump = new OutputPump(
      { send: (payload) => sent.push(payload), ready: () => true, flag: () => {}, finish: () => {} },
      'none',
    );
    const writes = [Buffer.alloc(8, 1), Buffer.alloc(3000, 2), Buffer.alloc(8, 3), Buffer.alloc(40, 4)];
    for (const write of writes) pump.write(write);
    await within(
      (async () => {
        while (sent.reduce((n, b) => n + b.length, 0) < 3056) await new Promise((r) => setTimeout(r, 5));
      })(),
      2000,
      'the pump',
    );
    pump.stop();
    expect(sent.every((payload) => payload.length <= 1024)).toBe(true);
    expect(Buffer.concat(sent)).toEqual(Buffer.concat(writes));
    // Writes queued together leave as full messages, across write boundaries.
    expect(sent[0]?.length).toBe(1024);
  });

  it('pauses destination sockets while too much is waiting', () => {
    const pump = new OutputPump(
      { send: () => {}, ready: () => false, flag: () => {}, finish: () => {} },
      'none',
    );
    let paused = false;
    const socket = {
      pause: () => {
        paused = true;
      },
      resume: () => {
        paused = false;
      },
      once: () => {},
    } as unknown as Socket;
    pump.watch(socket);
    pump.write(Buffer.alloc(2 * 1024 * 1024));
    expect(paused).toBe(true);
    pump.stop();
  });
});
