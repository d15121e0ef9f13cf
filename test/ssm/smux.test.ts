// smux v1 as the SSM port plugin speaks it: byte-exact frames (the reference's verified examples),
// reassembly from Output payloads cut anywhere, and the client session's streams, refusals,
// receive budget and keepalive, over in-memory pipes.

import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeSmuxFrame,
  SMUX_MAX_FRAME_DATA,
  SmuxCmd,
  type SmuxFrame,
  SmuxFrameReader,
  SmuxProtocolError,
  SmuxSession,
  type SmuxStream,
} from '../../src/ssm/smux.js';
import { within } from '../helpers/wait.js';

const hex = (bytes: Buffer) => bytes.toString('hex');
const summary = (frame: SmuxFrame) => [frame.cmd, frame.streamId, hex(frame.data)];

/** A deterministic pseudo-random generator, so that failures reproduce. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('smux frames', () => {
  it('encodes the verified examples byte for byte', () => {
    expect(hex(encodeSmuxFrame(SmuxCmd.syn, 3))).toBe('0100000003000000');
    expect(hex(encodeSmuxFrame(SmuxCmd.fin, 3))).toBe('0101000003000000');
    expect(hex(encodeSmuxFrame(SmuxCmd.nop, 0))).toBe('0103000000000000');
    const push = encodeSmuxFrame(SmuxCmd.psh, 3, Buffer.alloc(4000, 0x61));
    // Length 4000 = 0x0fa0, little-endian.
    expect(hex(push.subarray(0, 8))).toBe('0102a00f03000000');
    expect(push.length).toBe(8 + 4000);
    expect(hex(encodeSmuxFrame(SmuxCmd.psh, 0x01020304, Buffer.from('hi')))).toBe(
      '0102020004030201' + '6869',
    );
  });

  it('reassembles frames from chunks cut at every possible place', () => {
    const frames: SmuxFrame[] = [
      { cmd: SmuxCmd.syn, streamId: 3, data: Buffer.alloc(0) },
      { cmd: SmuxCmd.psh, streamId: 3, data: Buffer.from('hello, database') },
      { cmd: SmuxCmd.nop, streamId: 0, data: Buffer.alloc(0) },
      { cmd: SmuxCmd.psh, streamId: 5, data: Buffer.alloc(300, 7) },
      { cmd: SmuxCmd.fin, streamId: 3, data: Buffer.alloc(0) },
    ];
    const bytes = Buffer.concat(frames.map((f) => encodeSmuxFrame(f.cmd, f.streamId, f.data)));
    const expected = JSON.stringify(frames.map(summary));
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 11) {
        const reader = new SmuxFrameReader();
        const got = [
          ...reader.push(bytes.subarray(0, a)),
          ...reader.push(bytes.subarray(a, b)),
          ...reader.push(bytes.subarray(b)),
        ];
        // One comparison per split keeps ~5000 splits fast; a mismatch shows where.
        if (JSON.stringify(got.map(summary)) !== expected)
          expect({ a, b, got: got.map(summary) }).toBe(expected);
        expect(reader.pending).toBe(0);
      }
    }
  });

  it('reassembles a long stream cut into Output-sized chunks and single bytes', () => {
    const random = prng(42);
    const frames: SmuxFrame[] = [];
    for (let i = 0; i < 120; i++) {
      const cmd = [SmuxCmd.psh, SmuxCmd.psh, SmuxCmd.psh, SmuxCmd.syn, SmuxCmd.fin, SmuxCmd.nop][
        Math.floor(random() * 6)
      ] as number;
      const size = cmd === SmuxCmd.psh ? Math.floor(random() * 2000) : 0;
      const data = Buffer.alloc(size);
      for (let j = 0; j < size; j++) data[j] = Math.floor(random() * 256);
      frames.push({ cmd, streamId: 3 + 2 * Math.floor(random() * 10), data });
    }
    const bytes = Buffer.concat(frames.map((f) => encodeSmuxFrame(f.cmd, f.streamId, f.data)));
    for (const cut of [() => 1 + Math.floor(random() * 1024), () => 1, () => 1024]) {
      const reader = new SmuxFrameReader();
      const got: SmuxFrame[] = [];
      for (let offset = 0; offset < bytes.length; ) {
        const size = cut();
        got.push(...reader.push(bytes.subarray(offset, offset + size)));
        offset += size;
      }
      expect(got).toEqual(frames);
    }
  });

  it('treats a wrong version or an unknown command as a protocol error', () => {
    expect(() => new SmuxFrameReader().push(Buffer.from('0200000003000000', 'hex'))).toThrow(
      SmuxProtocolError,
    );
    // cmdUPD (4) exists only in smux v2.
    expect(() => new SmuxFrameReader().push(Buffer.from('0104000003000000', 'hex'))).toThrow(
      SmuxProtocolError,
    );
  });
});

describe('smux client session', () => {
  let session: SmuxSession | undefined;
  afterEach(() => session?.close(new Error('test over')));

  /** A session whose outgoing bytes are parsed back into frames; `agent` writes to it. */
  function connect(options: Partial<ConstructorParameters<typeof SmuxSession>[0]> = {}) {
    const agent = new PassThrough();
    const wire = new PassThrough();
    const reader = new SmuxFrameReader();
    const sent: SmuxFrame[] = [];
    wire.on('data', (chunk: Buffer) => sent.push(...reader.push(chunk)));
    session = new SmuxSession({ input: agent, output: wire, ...options });
    // Streams a test leaves open are destroyed when it ends.
    const openStream = session.openStream.bind(session);
    session.openStream = () => {
      const stream = openStream();
      stream.on('error', () => {});
      return stream;
    };
    return { session, agent, sent, wire };
  }

  const read = (stream: SmuxStream) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('end', () => resolve(Buffer.concat(chunks)));
      stream.once('error', reject);
    });

  it('opens streams 3, 5, 7 with SYN, sends data as PSH frames and ends with FIN', async () => {
    const { session, sent } = connect();
    const streams = [session.openStream(), session.openStream(), session.openStream()];
    expect(streams.map((s) => s.id)).toEqual([3, 5, 7]);
    const big = Buffer.alloc(SMUX_MAX_FRAME_DATA * 2 + 4464, 0x5a);
    await new Promise<void>((resolve) => (streams[0] as SmuxStream).end(big, resolve));
    expect(sent.map((f) => [f.cmd, f.streamId, f.data.length])).toEqual([
      [SmuxCmd.syn, 3, 0],
      [SmuxCmd.syn, 5, 0],
      [SmuxCmd.syn, 7, 0],
      [SmuxCmd.psh, 3, SMUX_MAX_FRAME_DATA],
      [SmuxCmd.psh, 3, SMUX_MAX_FRAME_DATA],
      [SmuxCmd.psh, 3, 4464],
      [SmuxCmd.fin, 3, 0],
    ]);
  });

  it('delivers data per stream, ends on FIN, skips NOPs and data for unknown streams', async () => {
    const { session, agent } = connect();
    const a = session.openStream();
    const b = session.openStream();
    const gotA = read(a);
    const gotB = read(b);
    const bytes = Buffer.concat([
      encodeSmuxFrame(SmuxCmd.psh, 5, Buffer.from('to b ')),
      encodeSmuxFrame(SmuxCmd.nop, 0),
      encodeSmuxFrame(SmuxCmd.psh, 3, Buffer.from('to a')),
      encodeSmuxFrame(SmuxCmd.psh, 99, Buffer.from('nobody')),
      encodeSmuxFrame(SmuxCmd.psh, 5, Buffer.from('again')),
      encodeSmuxFrame(SmuxCmd.fin, 3),
      encodeSmuxFrame(SmuxCmd.fin, 5),
    ]);
    // Cut like Output payloads: 3 bytes at a time.
    for (let offset = 0; offset < bytes.length; offset += 3) agent.write(bytes.subarray(offset, offset + 3));
    expect((await within(gotA, 2000, 'stream a')).toString()).toBe('to a');
    expect((await within(gotB, 2000, 'stream b')).toString()).toBe('to b again');
  });

  it('fails a stream that ends without data when the refusal hook says so', async () => {
    let refusals = 1;
    const { session, agent } = connect({
      refusal: () => (refusals-- > 0 ? new Error('connection to the database port failed') : undefined),
    });
    const refused = session.openStream();
    const quiet = session.openStream();
    const error = new Promise<Error>((resolve) => refused.once('error', resolve));
    const ended = read(quiet);
    agent.write(Buffer.concat([encodeSmuxFrame(SmuxCmd.fin, 3), encodeSmuxFrame(SmuxCmd.fin, 5)]));
    expect((await within(error, 2000, 'refusal')).message).toBe('connection to the database port failed');
    expect((await within(ended, 2000, 'quiet end')).length).toBe(0);
  });

  it('stops reading the session when streams hold the receive budget, and resumes', async () => {
    const { session, agent } = connect({ maxReceiveBuffer: 10_000 });
    const stream = session.openStream();
    for (let i = 0; i < 20; i++) agent.write(encodeSmuxFrame(SmuxCmd.psh, 3, Buffer.alloc(1000, i)));
    await within(
      (async () => {
        while (!agent.isPaused()) await new Promise((resolve) => setImmediate(resolve));
      })(),
      2000,
      'the session to pause its input',
    );
    expect(stream.queuedBytes + stream.readableLength).toBeGreaterThanOrEqual(10_000);
    const hash = createHash('sha256');
    let total = 0;
    stream.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      total += chunk.length;
    });
    await within(
      (async () => {
        while (total < 20_000) await new Promise((resolve) => setImmediate(resolve));
      })(),
      2000,
      'all data',
    );
    const expected = createHash('sha256');
    for (let i = 0; i < 20; i++) expected.update(Buffer.alloc(1000, i));
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
    expect(agent.isPaused()).toBe(false);
  });

  it('with keepalive, sends NOPs and gives up on a silent peer', async () => {
    const { session, sent } = connect({ keepAlive: { intervalMs: 20, timeoutMs: 120 } });
    const stream = session.openStream();
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
    const closed = new Promise<Error | undefined>((resolve) => session.once('close', resolve));
    expect((await within(closed, 5000, 'keepalive close'))?.message).toMatch(/keepalive/);
    expect((await failed).message).toMatch(/keepalive/);
    expect(sent.some((f) => f.cmd === SmuxCmd.nop && f.streamId === 0)).toBe(true);
  });

  it('ends every stream when the data channel ends', async () => {
    const { session, agent } = connect();
    const stream = session.openStream();
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
    agent.end();
    expect((await within(failed, 2000, 'stream error')).message).toMatch(/ended/);
    expect(session.closed).toBe(true);
    expect(() => session.openStream()).toThrow(/closed/);
  });
});
