// The emulated agent seen through a raw WebSocket client that speaks frames by hand, to pin down
// the agent-side protocol behaviour independently of src/ssm/channel.ts.

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AgentOptions } from '../../../sandbox/agent/index.js';
import {
  decodeFrame,
  encodeAcknowledge,
  encodeFrame,
  encodeJsonPayload,
  encodeOpeningMessage,
  encodeSize,
  type Frame,
  FrameFlags,
  MessageType,
  PayloadType,
  parseAcknowledge,
  parseChannelClosed,
  parseHandshakeRequest,
} from '../../../src/ssm/codec.js';
import { within } from '../../helpers/wait.js';
import { execRequest, type Loopback, startLoopback } from './harness.js';

class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<number>;
  #waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(decodeFrame(data));
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  }

  static async connect(url: string, token: string): Promise<RawClient> {
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    await within(
      new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)),
      5000,
      'open',
    );
    const client = new RawClient(ws);
    ws.send(encodeOpeningMessage({ tokenValue: token, clientId: 'raw-client' }));
    return client;
  }

  async waitFor(predicate: (frame: Frame) => boolean, what: string, ms = 10_000): Promise<Frame> {
    const find = async () => {
      for (;;) {
        const found = this.frames.find(predicate);
        if (found) return found;
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    };
    return within(find(), ms, what);
  }

  count(predicate: (frame: Frame) => boolean): number {
    return this.frames.filter(predicate).length;
  }

  send(sequenceNumber: number, payloadType: number, payload: Buffer | string): Buffer {
    const frame = encodeFrame({
      messageType: MessageType.inputStreamData,
      sequenceNumber,
      payloadType,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    });
    this.ws.send(frame);
    return frame;
  }

  ack(frame: Frame): void {
    this.ws.send(encodeAcknowledge(frame));
  }

  output(): string {
    return this.frames
      .filter((f) => f.messageType === MessageType.outputStreamData && f.payloadType === PayloadType.output)
      .sort((a, b) => a.sequenceNumber - b.sequenceNumber)
      .filter((f, i, all) => i === 0 || all[i - 1]?.sequenceNumber !== f.sequenceNumber)
      .map((f) => f.payload.toString('latin1'))
      .join('');
  }
}

const isAckOf = (sequenceNumber: number) => (f: Frame) =>
  f.messageType === MessageType.acknowledge && parseAcknowledge(f.payload).sequenceNumber === sequenceNumber;
const isOutput = (sequenceNumber: number) => (f: Frame) =>
  f.messageType === MessageType.outputStreamData && f.sequenceNumber === sequenceNumber;
const isClosed = (f: Frame) => f.messageType === MessageType.channelClosed;

const loopbacks: Loopback[] = [];
const clients: RawClient[] = [];

async function session(command: string, options: AgentOptions = {}, kmsKeyId?: string) {
  const lb = await startLoopback({ drainTimeoutMs: 300, ...options });
  loopbacks.push(lb);
  const grant = lb.agent.broker.open(execRequest(command, kmsKeyId ? { kmsKeyId } : {}));
  const client = await RawClient.connect(grant.streamUrl, grant.tokenValue);
  clients.push(client);
  return { lb, grant, client };
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  for (const lb of loopbacks.splice(0)) await lb.close();
});

describe('emulated agent: connection', () => {
  it('refuses upgrades for unknown sessions', async () => {
    const lb = await startLoopback();
    loopbacks.push(lb);
    const ws = new WebSocket(`${lb.url.replace('http', 'ws')}/v1/data-channel/nope?role=publish_subscribe`);
    const error = await within(new Promise<Error>((resolve) => ws.once('error', resolve)), 5000, 'refusal');
    expect(error.message).toContain('404');
  });

  it('closes the socket on a bad token, and accepts the real one', async () => {
    const lb = await startLoopback();
    loopbacks.push(lb);
    const grant = lb.agent.broker.open(execRequest('echo hi'));
    const bad = await RawClient.connect(grant.streamUrl, 'not-the-token');
    clients.push(bad);
    expect(await within(bad.closed, 5000, 'close')).toBe(1008);
    const good = await RawClient.connect(grant.streamUrl, grant.tokenValue);
    clients.push(good);
    await good.waitFor(isOutput(0), 'first output');
    expect(lb.agent.stats(grant.sessionId)?.tokenRejections).toBe(1);
  });

  it('issues a new token on resume and stops accepting the old one', async () => {
    const { lb, grant, client } = await session(`sh -c 'echo READY; sleep 30'`);
    await client.waitFor(isOutput(0), 'output');
    client.ws.terminate();
    const resumed = lb.agent.broker.resume(grant.sessionId);
    expect(resumed?.streamUrl).toBe(grant.streamUrl);
    expect(resumed?.tokenValue).not.toBe(grant.tokenValue);
    const stale = await RawClient.connect(grant.streamUrl, grant.tokenValue);
    clients.push(stale);
    expect(await within(stale.closed, 5000, 'close')).toBe(1008);
    const fresh = await RawClient.connect(grant.streamUrl, resumed?.tokenValue ?? '');
    clients.push(fresh);
    // The unacknowledged output is sent again on the new connection.
    await fresh.waitFor(isOutput(0), 'resent output');
  });
});

describe('emulated agent: sequencing', () => {
  it('flags its first stream message SYN and acks with flags 3 and seq 0', async () => {
    const { client } = await session(`sh -c 'stty -echo; echo READY; cat'`);
    const first = await client.waitFor(isOutput(0), 'first output');
    expect(first.flags).toBe(FrameFlags.syn);
    client.ack(first);
    client.send(0, PayloadType.output, 'abc\n');
    const ack = await client.waitFor(isAckOf(0), 'ack');
    expect(ack).toMatchObject({ sequenceNumber: 0, flags: FrameFlags.ack, payloadType: 0 });
    expect(JSON.parse(ack.payload.toString())).toMatchObject({
      AcknowledgedMessageType: 'input_stream_data',
      IsSequentialMessage: true,
    });
    const second = await client.waitFor(isOutput(1), 'echoed input');
    expect(second.flags).toBe(FrameFlags.none);
  });

  it('re-acks duplicates, buffers out-of-order input and processes it in order', async () => {
    const { lb, grant, client } = await session(`sh -c 'stty -echo; echo READY; cat'`);
    client.ack(await client.waitFor(isOutput(0), 'READY'));
    client.send(1, PayloadType.output, 'second\n');
    await client.waitFor(isAckOf(1), 'ack of the future message');
    client.send(0, PayloadType.output, 'first\n');
    await client.waitFor(isAckOf(0), 'ack of the gap');
    client.send(0, PayloadType.output, 'first\n');
    await within(
      (async () => {
        while (client.count(isAckOf(0)) < 2) await new Promise((r) => setTimeout(r, 20));
      })(),
      5000,
      're-ack',
    );
    await client.waitFor(() => client.output().includes('second'), 'echo');
    expect(client.output()).toBe('READY\r\nfirst\r\nsecond\r\n');
    expect(lb.agent.stats(grant.sessionId)).toMatchObject({ duplicatesReceived: 1, outOfOrderReceived: 1 });
  });

  it('drops frames with a bad digest without acking them', async () => {
    const { lb, grant, client } = await session(`sh -c 'echo READY; sleep 30'`);
    client.ack(await client.waitFor(isOutput(0), 'READY'));
    const frame = encodeFrame({
      messageType: MessageType.inputStreamData,
      sequenceNumber: 0,
      payloadType: PayloadType.size,
      payload: encodeSize({ cols: 10, rows: 10 }),
    });
    frame[90] = (frame[90] ?? 0) ^ 0xff;
    client.ws.send(frame);
    client.send(1, PayloadType.size, encodeSize({ cols: 20, rows: 20 }));
    await client.waitFor(isAckOf(1), 'ack of the valid frame');
    expect(client.count(isAckOf(0))).toBe(0);
    expect(lb.agent.stats(grant.sessionId)?.framesRejected).toBe(1);
  });

  it('retransmits unacknowledged output and gives up draining after the drain timeout', async () => {
    const { lb, grant, client } = await session('echo once');
    const closed = await client.waitFor(isClosed, 'channel_closed');
    expect(parseChannelClosed(closed.payload)).toMatchObject({ sessionId: grant.sessionId, output: '' });
    expect(client.count(isOutput(0))).toBeGreaterThan(1);
    expect(lb.agent.stats(grant.sessionId)?.messagesResent).toBeGreaterThan(0);
    expect(await within(client.closed, 5000, 'close')).toBe(1000);
  });
});

describe('emulated agent: handshake', () => {
  it('sends a SessionType HandshakeRequest and drops other input until it completes', async () => {
    const { lb, grant, client } = await session(`sh -c 'echo READY; sleep 30'`, {
      execHandshake: 'session-type',
      agentVersion: '3.3.987.0',
    });
    const request = await client.waitFor(isOutput(0), 'HandshakeRequest');
    expect(request.payloadType).toBe(PayloadType.handshakeRequest);
    expect(request.flags).toBe(FrameFlags.syn);
    expect(parseHandshakeRequest(request.payload)).toEqual({
      AgentVersion: '3.3.987.0',
      RequestedClientActions: [
        {
          ActionType: 'SessionType',
          ActionParameters: { SessionType: 'InteractiveCommands', Properties: null },
        },
      ],
    });
    client.ack(request);
    client.send(0, PayloadType.size, encodeSize({ cols: 1, rows: 1 }));
    await client.waitFor(isAckOf(0), 'ack of early input');
    expect(lb.agent.stats(grant.sessionId)?.inputDiscarded).toBe(1);
    client.send(
      1,
      PayloadType.handshakeResponse,
      encodeJsonPayload({
        ClientVersion: '1.2.677.0',
        ProcessedClientActions: [
          { ActionType: 'SessionType', ActionStatus: 1, ActionResult: null, Error: '' },
        ],
        Errors: null,
      }),
    );
    const complete = await client.waitFor(isOutput(1), 'HandshakeComplete');
    expect(complete.payloadType).toBe(PayloadType.handshakeComplete);
    client.ack(complete);
    await client.waitFor(() => client.output().includes('READY'), 'command output');
  });

  it('stalls on plaintext input in a KMS session, as the real agent does', async () => {
    const { lb, grant, client } = await session(
      'echo never',
      { decryptDataKey: () => Buffer.alloc(64) },
      'key',
    );
    const request = await client.waitFor(isOutput(0), 'HandshakeRequest');
    expect(parseHandshakeRequest(request.payload).RequestedClientActions[1]).toMatchObject({
      ActionType: 'KMSEncryption',
      ActionParameters: { KMSKeyId: 'key', Challenge: expect.any(String) },
    });
    client.ack(request);
    client.send(0, PayloadType.output, 'too early');
    client.send(
      1,
      PayloadType.handshakeResponse,
      encodeJsonPayload({ ClientVersion: '1.2.677.0', ProcessedClientActions: [] }),
    );
    await client.waitFor(isAckOf(1), 'ack of the buffered response');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.count(isAckOf(0))).toBe(0);
    expect(client.count(isOutput(1))).toBe(0);
    expect(lb.agent.stats(grant.sessionId)?.inputRefused).toBeGreaterThan(0);
  });

  it('fails the session when the client refuses an action', async () => {
    const { client } = await session('echo never', { execHandshake: 'session-type' });
    client.ack(await client.waitFor(isOutput(0), 'HandshakeRequest'));
    client.send(
      0,
      PayloadType.handshakeResponse,
      encodeJsonPayload({
        ClientVersion: '1.2.677.0',
        ProcessedClientActions: [
          { ActionType: 'SessionType', ActionStatus: 2, ActionResult: null, Error: 'nope' },
        ],
      }),
    );
    const closed = await client.waitFor(isClosed, 'channel_closed');
    expect(parseChannelClosed(closed.payload).output).toBe(
      '\n----------ERROR-------\nEncountered error while initiating handshake. ' +
        'SessionType failed on client with status 2 error: nope',
    );
  });
});

describe('emulated agent: sessions', () => {
  it('reports a command missing from PATH the way the agent does', async () => {
    const { client } = await session('psql -X', { container: { path: ['/nonexistent'] } });
    const closed = await client.waitFor(isClosed, 'channel_closed');
    expect(parseChannelClosed(closed.payload).output).toBe(
      '\n----------ERROR-------\nUnable to start command: Failed to start pty: ' +
        'exec: "psql": executable file not found in $PATH\n\n',
    );
  });

  it('drops an incomplete UTF-8 tail at EOF like the agent', async () => {
    const { client } = await session(`printf 'ok\\342\\202'`);
    const first = await client.waitFor(isOutput(0), 'output');
    client.ack(first);
    await client.waitFor(isClosed, 'channel_closed');
    expect(client.output()).toBe('ok');
  });

  it('opens a port session with a Port handshake carrying the document properties', async () => {
    // The Port plugin itself is covered in port.test.ts.
    const lb = await startLoopback();
    loopbacks.push(lb);
    const grant = lb.agent.broker.open({
      kind: 'port',
      target: 'ecs:c_t_r',
      documentName: 'AWS-StartPortForwardingSessionToRemoteHost',
      parameters: { portNumber: ['5432'] },
    });
    const client = await RawClient.connect(grant.streamUrl, grant.tokenValue);
    clients.push(client);
    const request = await client.waitFor((f) => f.payloadType === PayloadType.handshakeRequest, 'handshake');
    expect(parseHandshakeRequest(request.payload).RequestedClientActions).toEqual([
      {
        ActionType: 'SessionType',
        ActionParameters: {
          SessionType: 'Port',
          Properties: { portNumber: '5432', type: 'LocalPortForwarding', localPortNumber: '0' },
        },
      },
    ]);
  });

  it('ends on TerminateSession and then cannot be resumed', async () => {
    const { lb, grant, client } = await session(`sh -c 'echo READY; sleep 30'`);
    client.ack(await client.waitFor(isOutput(0), 'READY'));
    expect(lb.agent.broker.terminate(grant.sessionId)).toBe(true);
    const closed = await client.waitFor(isClosed, 'channel_closed');
    expect(parseChannelClosed(closed.payload).output).toBe('');
    await within(client.closed, 5000, 'close');
    expect(lb.agent.broker.resume(grant.sessionId)).toBeUndefined();
    expect(lb.agent.broker.terminate('unknown')).toBe(false);
  });
});
