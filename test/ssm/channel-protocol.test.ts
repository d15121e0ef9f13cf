// The client channel against a scripted fake agent: each test plays the agent's side frame by frame
// and checks exactly what the client puts on the wire.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { WebSocketServer } from 'ws';
import { DataChannel, type DataChannelOptions } from '../../src/ssm/channel.js';
import {
  decodeFrame,
  encodeAcknowledge,
  encodeChannelClosedPayload,
  encodeExitCode,
  encodeFlag,
  encodeFrame,
  type Frame,
  FrameFlags,
  MessageType,
  PayloadType,
  parseAcknowledge,
} from '../../src/ssm/codec.js';
import { within } from '../helpers/wait.js';
import { Collector } from '../sandbox/agent/harness.js';

interface Connection {
  ws: WebSocket;
  opening: Record<string, unknown>;
  frames: Frame[];
}

class FakeAgent {
  readonly connections: Connection[] = [];
  #waiters: Array<() => void> = [];
  #sequence = 0;

  private constructor(
    readonly server: Server,
    readonly wss: WebSocketServer,
    readonly url: string,
  ) {
    wss.on('connection', (ws) => {
      ws.once('message', (data: Buffer) => {
        const connection: Connection = { ws, opening: JSON.parse(data.toString()), frames: [] };
        this.connections.push(connection);
        ws.on('message', (frame: Buffer) => {
          connection.frames.push(decodeFrame(frame, { strict: true }));
          this.#wake();
        });
        this.#wake();
      });
    });
  }

  static async start(): Promise<FakeAgent> {
    const server = createServer();
    const wss = new WebSocketServer({ server });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    return new FakeAgent(server, wss, `ws://127.0.0.1:${port}/v1/data-channel/s-1?role=publish_subscribe`);
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  get current(): Connection {
    const connection = this.connections.at(-1);
    if (!connection) throw new Error('no connection yet');
    return connection;
  }

  async until<T>(check: () => T | undefined, what: string, ms = 10_000): Promise<T> {
    const poll = async () => {
      for (;;) {
        const value = check();
        if (value !== undefined) return value;
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    };
    return within(poll(), ms, what);
  }

  inputs(connection = this.current): Frame[] {
    return connection.frames.filter((f) => f.messageType === MessageType.inputStreamData);
  }

  acksOf(sequenceNumber: number, connection = this.current): number {
    return connection.frames.filter(
      (f) =>
        f.messageType === MessageType.acknowledge &&
        parseAcknowledge(f.payload).sequenceNumber === sequenceNumber,
    ).length;
  }

  send(payloadType: number, payload: Buffer | string, sequenceNumber = this.#sequence++): Buffer {
    const frame = encodeFrame({
      messageType: MessageType.outputStreamData,
      sequenceNumber,
      flags: sequenceNumber === 0 ? FrameFlags.syn : FrameFlags.none,
      payloadType,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    });
    this.current.ws.send(frame);
    return frame;
  }

  control(messageType: string, payload: Uint8Array = Buffer.alloc(0)): void {
    this.current.ws.send(encodeFrame({ messageType, sequenceNumber: 0, payloadType: 0, payload }));
  }

  ack(frame: Frame): void {
    this.current.ws.send(encodeAcknowledge(frame));
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const agents: FakeAgent[] = [];
const channels: DataChannel[] = [];

async function connect(
  options: Partial<DataChannelOptions> = {},
): Promise<{ agent: FakeAgent; channel: DataChannel }> {
  const agent = await FakeAgent.start();
  agents.push(agent);
  const channel = await DataChannel.open({
    streamUrl: agent.url,
    token: 'token-1',
    sessionId: 's-1',
    handshake: 'none',
    ...options,
  });
  channels.push(channel);
  await agent.until(() => agent.connections[0], 'connection');
  return { agent, channel };
}

afterEach(async () => {
  for (const channel of channels.splice(0)) channel.close();
  for (const agent of agents.splice(0)) await agent.close();
});

describe('client wire behaviour', () => {
  it('opens with the plugin opening message; ClientId is per process, RequestId per connection', async () => {
    const { agent } = await connect();
    const { agent: other } = await connect();
    const opening = agent.current.opening;
    expect(Object.keys(opening)).toEqual([
      'MessageSchemaVersion',
      'RequestId',
      'TokenValue',
      'ClientId',
      'ClientVersion',
    ]);
    expect(opening).toMatchObject({
      MessageSchemaVersion: '1.0',
      TokenValue: 'token-1',
      ClientVersion: '1.2.677.0',
    });
    expect(other.current.opening.ClientId).toBe(opening.ClientId);
    expect(other.current.opening.RequestId).not.toBe(opening.RequestId);
  });

  it('numbers its stream messages from 0 with flags 0, Size first, input cut at 1024 bytes', async () => {
    const { agent, channel } = await connect();
    channel.resize({ cols: 300, rows: 100 });
    channel.write(Buffer.alloc(3000, 0x61));
    const inputs = await agent.until(
      () => (agent.inputs().length >= 4 ? agent.inputs() : undefined),
      'input',
    );
    expect(inputs.map((f) => [f.sequenceNumber, f.flags, f.payloadType, f.payload.length])).toEqual([
      [0, 0, PayloadType.size, 23],
      [1, 0, PayloadType.output, 1024],
      [2, 0, PayloadType.output, 1024],
      [3, 0, PayloadType.output, 952],
    ]);
    expect(inputs[0]?.payload.toString()).toBe('{"cols":300,"rows":100}');
  });

  it('acks in-order and future messages, re-acks duplicates, and delivers in order once', async () => {
    const { agent, channel } = await connect();
    const out = new Collector(channel.output);
    agent.send(PayloadType.output, 'C', 2);
    agent.send(PayloadType.output, 'B', 1);
    agent.send(PayloadType.output, 'A', 0);
    agent.send(PayloadType.output, 'A', 0);
    agent.send(PayloadType.output, 'B', 1);
    await agent.until(() => (agent.acksOf(0) === 2 && agent.acksOf(1) === 2 ? true : undefined), 'acks');
    expect(agent.acksOf(2)).toBe(1);
    const ack = agent.current.frames.find((f) => f.messageType === MessageType.acknowledge);
    expect(ack).toMatchObject({ sequenceNumber: 0, flags: FrameFlags.ack, payloadType: 0 });
    agent.control(MessageType.channelClosed, encodeChannelClosedPayload({ sessionId: 's-1' }));
    expect((await out.all()).toString()).toBe('ABC');
    expect(channel.stats).toMatchObject({ duplicatesReceived: 2, outOfOrderReceived: 2 });
  });

  it('resends only the oldest unacknowledged message, with the same frame', async () => {
    const { agent, channel } = await connect();
    channel.write('one');
    channel.write('two');
    await agent.until(
      () => (agent.inputs().filter((f) => f.sequenceNumber === 0).length >= 3 ? true : undefined),
      'resends',
    );
    const zeros = agent.inputs().filter((f) => f.sequenceNumber === 0);
    expect(new Set(zeros.map((f) => f.messageId)).size).toBe(1);
    // Only after 0 is acknowledged does 1 become the oldest and get resent.
    expect(agent.inputs().filter((f) => f.sequenceNumber === 1)).toHaveLength(1);
    agent.ack(zeros[0] as Frame);
    await agent.until(
      () => (agent.inputs().filter((f) => f.sequenceNumber === 1).length >= 2 ? true : undefined),
      'resend of 1',
    );
    expect(channel.stats.messagesResent).toBeGreaterThanOrEqual(3);
  });

  it('surfaces StdErr, ExitCode and Flag payloads separately from output', async () => {
    const { agent, channel } = await connect();
    const out = new Collector(channel.output);
    const err = new Collector(channel.stderr);
    const flags: number[] = [];
    channel.on('flag', (flag) => flags.push(flag));
    agent.send(PayloadType.output, 'out');
    agent.send(PayloadType.stdErr, 'err');
    agent.send(PayloadType.flag, encodeFlag(3));
    agent.send(PayloadType.exitCode, encodeExitCode(7));
    await agent.until(() => (agent.acksOf(3) > 0 ? true : undefined), 'acks');
    agent.control(MessageType.channelClosed, encodeChannelClosedPayload({ sessionId: 's-1' }));
    const end = await within(channel.closed, 5000, 'close');
    expect(end).toEqual({ reason: 'channel-closed', output: '', exitCode: 7 });
    expect((await out.all()).toString()).toBe('out');
    expect((await err.all()).toString()).toBe('err');
    expect(flags).toEqual([3]);
  });

  it('holds its messages between pause_publication and start_publication', async () => {
    const { agent, channel } = await connect();
    agent.control(MessageType.pausePublication);
    await new Promise((resolve) => setTimeout(resolve, 50));
    channel.write('held');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(agent.inputs()).toHaveLength(0);
    agent.control(MessageType.startPublication);
    const [held] = await agent.until(() => (agent.inputs().length > 0 ? agent.inputs() : undefined), 'input');
    expect(held?.payload.toString()).toBe('held');
  });

  it('reports a channel closed with gaps still open as lost output', async () => {
    const { agent, channel } = await connect();
    agent.send(PayloadType.output, 'later', 5);
    await agent.until(() => (agent.acksOf(5) > 0 ? true : undefined), 'ack');
    agent.control(MessageType.channelClosed, encodeChannelClosedPayload({ sessionId: 's-1' }));
    const end = await within(channel.closed, 5000, 'close');
    expect(end.error?.code).toBe('ssm.output-lost');
  });

  it('reconnects to the same URL with a new token and RequestId, keeping its sequence numbers', async () => {
    const tokens = ['token-2'];
    const { agent, channel } = await connect({ resumeSession: async () => tokens.shift() });
    channel.write('before');
    const first = agent.current;
    await agent.until(() => (agent.inputs(first).length > 0 ? true : undefined), 'first input');
    first.ws.terminate();
    await agent.until(() => (agent.connections.length === 2 ? true : undefined), 'reconnect');
    expect(agent.current.opening).toMatchObject({ TokenValue: 'token-2', ClientId: first.opening.ClientId });
    expect(agent.current.opening.RequestId).not.toBe(first.opening.RequestId);
    // The unacknowledged message is resent on the new connection, then new input continues the count.
    await agent.until(
      () => (agent.inputs().some((f) => f.sequenceNumber === 0) ? true : undefined),
      'resend',
    );
    channel.write('after');
    const after = await agent.until(
      () => agent.inputs().find((f) => f.payload.toString() === 'after'),
      'new input',
    );
    expect(after.sequenceNumber).toBe(1);
    expect(channel.stats.reconnects).toBe(1);
  });
});
