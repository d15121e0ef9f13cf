// End to end over real loopback sockets: the client DataChannel against the emulated agent, which
// runs real commands in real ptys.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FaultPlan } from '../../sandbox/agent/index.js';
import type { DataChannel } from '../../src/ssm/channel.js';
import { within } from '../helpers/wait.js';
import {
  base64Lines,
  Collector,
  createTestKms,
  type Loopback,
  openExec,
  seededBytes,
  seqLines,
  startLoopback,
  TARGET_ID,
  unCrlf,
} from '../sandbox/agent/harness.js';

const loopbacks: Loopback[] = [];
const channels: DataChannel[] = [];

async function loopback(options: Parameters<typeof startLoopback>[0] = {}): Promise<Loopback> {
  const started = await startLoopback(options);
  loopbacks.push(started);
  return started;
}

async function exec(
  lb: Loopback,
  command: string,
  ...rest: Parameters<typeof openExec> extends [unknown, unknown, ...infer R] ? R : never
) {
  const channel = await openExec(lb, command, ...rest);
  channels.push(channel);
  return channel;
}

afterEach(async () => {
  for (const channel of channels.splice(0)) channel.close();
  for (const lb of loopbacks.splice(0)) await lb.close();
});

let dir: string;
let seedFile: string;
const seed = seededBytes(1024 * 1024);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'coderdb-ssm-'));
  seedFile = join(dir, 'seed.bin');
  writeFileSync(seedFile, seed);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('exec sessions without handshake (plain ECS Exec)', () => {
  it('runs a command and ends with channel_closed; the exit status is not reported', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'echo hello; exit 7'`);
    const out = new Collector(channel.output);
    expect(unCrlf(await out.all())).toBe('hello\n');
    const end = await within(channel.closed, 10_000, 'close');
    expect(end).toEqual({ reason: 'channel-closed', output: '' });
    expect(channel.session).toMatchObject({
      sessionType: 'Standard_Stream',
      handshake: false,
      encrypted: false,
    });
  });

  it('passes binary-ish output through byte for byte', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `printf '\\001\\002\\033[1m\\377\\376tail'`);
    const out = await new Collector(channel.output).all();
    expect(out).toEqual(Buffer.from([1, 2, 0x1b, 0x5b, 0x31, 0x6d, 0xff, 0xfe, 0x74, 0x61, 0x69, 0x6c]));
  });

  it('delivers 1 MiB of base64 output exactly', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'head -c 1048576 ${seedFile} | base64'`);
    const out = await new Collector(channel.output).all(120_000);
    expect(unCrlf(out) === base64Lines(seed)).toBe(true);
    expect((await channel.closed).error).toBeUndefined();
    expect(channel.stats.messagesReceived).toBeGreaterThan(1000);
  });

  it('paces like the real agent and still delivers everything', async () => {
    const lb = await loopback({ pacing: 'realistic' });
    const channel = await exec(lb, `sh -c 'head -c 49152 ${seedFile} | base64'`);
    const out = await new Collector(channel.output).all();
    expect(unCrlf(out)).toBe(base64Lines(seed.subarray(0, 49152)));
  });

  it('round-trips input through the pty', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'stty -echo; echo READY; cat'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    const lines = Array.from({ length: 200 }, (_, i) => `${i}:${'x'.repeat(400)}`);
    const text = `${lines.join('\n')}\n`;
    await new Promise<void>((resolve, reject) =>
      channel.input.write(text, (e) => (e ? reject(e) : resolve())),
    );
    await within(channel.flush(), 20_000, 'input acks');
    channel.write('\u0004');
    expect(unCrlf(await out.all())).toBe(`READY\n${text}`);
  });

  it('applies the terminal size', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'echo READY; read x; stty size'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    channel.resize({ cols: 132, rows: 40 });
    channel.write('\n');
    await out.all();
    expect(unCrlf(out.bytes())).toMatch(/READY\n(\n)?40 132\n$/);
    const stats = lb.agent.stats(channel.sessionId);
    expect(stats?.lastSize).toEqual({ cols: 132, rows: 40 });
  });

  it('holds input until the session is up, then sends it in order', async () => {
    const lb = await loopback();
    // Silent until it reads: only the grace period tells the client there is no handshake.
    const channel = await exec(lb, `sh -c 'stty -echo; read a; read b; echo "got $a $b"'`, {
      handshake: 'auto',
      timeouts: { establishGraceMs: 300 },
    });
    channel.write('one\n');
    channel.write('two\n');
    const out = await new Collector(channel.output).all();
    expect(unCrlf(out)).toContain('got one two');
  });

  it('stops reading the socket when the consumer is slow, and loses nothing', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'head -c 1048576 ${seedFile} | base64'`, {
      outputHighWaterMark: 16 * 1024,
    });
    // Nobody reads for a while: the buffered output must stay bounded.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(channel.output.readableLength).toBeLessThan(256 * 1024);
    const out = await new Collector(channel.output).all(120_000);
    expect(unCrlf(out) === base64Lines(seed)).toBe(true);
  });

  it('terminates a running command through TerminateSession', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'echo READY; sleep 30'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    const end = await within(channel.terminate(), 15_000, 'terminate');
    expect(end.reason).toBe('terminated');
    expect(end.error).toBeUndefined();
  });
});

describe('errors', () => {
  it('surfaces channel_closed error text when the command is not on the container PATH', async () => {
    const lb = await loopback({ container: { path: ['/nonexistent'] } });
    const channel = await exec(lb, 'psql -X -c "select 1"');
    const end = await within(channel.closed, 15_000, 'close');
    expect(end.reason).toBe('channel-closed');
    expect(end.output).toContain('executable file not found in $PATH');
    expect(end.error?.code).toBe('ssm.channel-closed');
    expect(end.error?.kind).toBe('connection');
    expect(end.error?.message).toBe(
      'The session ended with an error: Unable to start command: Failed to start pty: ' +
        'exec: "psql": executable file not found in $PATH',
    );
  });

  it('rejects a bad token and fails when there is no way to resume', async () => {
    const lb = await loopback();
    const grant = lb.agent.broker.open({
      kind: 'exec',
      cluster: 'c',
      taskArn: 'a',
      taskId: 't',
      container: 'c',
      runtimeId: 'r',
      command: 'true',
    });
    const { DataChannel } = await import('../../src/ssm/channel.js');
    const channel = await DataChannel.open({
      streamUrl: grant.streamUrl,
      token: 'forged',
      sessionId: grant.sessionId,
    });
    channels.push(channel);
    const end = await within(channel.closed, 10_000, 'close');
    expect(end.reason).toBe('failed');
    expect(end.error?.code).toBe('ssm.connection-lost');
    expect(lb.agent.stats(grant.sessionId)?.tokenRejections).toBe(1);
    await expect(channel.established).rejects.toMatchObject({ code: 'ssm.connection-lost' });
  });

  it('reports a timed-out session when ResumeSession has no token', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'echo READY; sleep 30'`, {
      resumeSession: async () => undefined,
    });
    lb.agent.faults.set({ dropSocketAfterOutputs: 0 }, channel.sessionId);
    const end = await within(channel.closed, 15_000, 'close');
    expect(end.error?.code).toBe('ssm.session-timed-out');
  });

  it('gives up after bounded resume attempts', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'echo READY; sleep 30'`, {
      resumeSession: async () => {
        throw new Error('ResumeSession: AccessDeniedException');
      },
      reconnect: { initialMinMs: 1, initialMaxMs: 2, maxMs: 10 },
    });
    await new Collector(channel.output).waitFor('READY');
    lb.agent.faults.set({ dropSocketAfterOutputs: 0 }, channel.sessionId);
    channel.write('x');
    const end = await within(channel.closed, 15_000, 'close');
    expect(end.error?.code).toBe('ssm.resume-failed');
    expect(end.error?.message).toContain('AccessDeniedException');
  });

  it('fails to connect to a stream URL nobody serves, after bounded retries', async () => {
    const lb = await loopback();
    const { DataChannel } = await import('../../src/ssm/channel.js');
    await expect(
      DataChannel.open({
        streamUrl: `${lb.url.replace('http', 'ws')}/v1/data-channel/unknown?role=publish_subscribe`,
        token: 't',
        sessionId: 'unknown',
        reconnect: { initialMinMs: 1, initialMaxMs: 2 },
      }),
    ).rejects.toMatchObject({ code: 'ssm.connect-failed', kind: 'connection' });
  });
});

describe('faults: nothing lost, duplicated or reordered', () => {
  const LINES = 20_000;
  const cases: Array<[string, FaultPlan, keyof FaultPlan]> = [
    ['lost output messages', { dropOutputs: 3 }, 'dropOutputs'],
    ['corrupted digests', { corruptDigest: 3 }, 'corruptDigest'],
    ['duplicated output messages', { duplicateOutputs: 5 }, 'duplicateOutputs'],
    ['reordered output messages', { reorderOutputs: 5 }, 'reorderOutputs'],
    ['a dropped socket (resumed)', { dropSocketAfterOutputs: 20 }, 'dropSocketAfterOutputs'],
    ['paused publication', { pausePublication: { afterOutputs: 5, durationMs: 300 } }, 'pausePublication'],
  ];

  it.each(cases)('survives %s', async (_name, plan, kind) => {
    const lb = await loopback();
    lb.agent.faults.set(plan);
    const channel = await exec(lb, `seq 1 ${LINES}`);
    const out = await new Collector(channel.output).all();
    expect(unCrlf(out) === seqLines(LINES)).toBe(true);
    const end = await channel.closed;
    expect(end.error).toBeUndefined();
    expect(lb.agent.faults.fired(channel.sessionId)[kind]).toBeGreaterThan(0);
    if (kind === 'corruptDigest') expect(channel.stats.framesRejected).toBeGreaterThan(0);
    if (kind === 'duplicateOutputs') expect(channel.stats.duplicatesReceived).toBeGreaterThan(0);
    if (kind === 'reorderOutputs') expect(channel.stats.outOfOrderReceived).toBeGreaterThan(0);
    if (kind === 'dropOutputs' || kind === 'corruptDigest') {
      expect(lb.agent.stats(channel.sessionId)?.messagesResent).toBeGreaterThan(0);
    }
    if (kind === 'dropSocketAfterOutputs') {
      expect(channel.stats.reconnects).toBe(1);
      expect(lb.agent.stats(channel.sessionId)?.connections).toBe(2);
    }
  });

  it('retransmits input whose acks were withheld, and the agent re-acks the duplicates', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'stty -echo; echo READY; cat'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    lb.agent.faults.set({ withholdAcks: { count: 3 } }, channel.sessionId);
    for (let i = 0; i < 10; i++) channel.write(`line ${i}\n`);
    await within(channel.flush(), 20_000, 'input acks');
    channel.write('\u0004');
    const expected = Array.from({ length: 10 }, (_, i) => `line ${i}\n`).join('');
    expect(unCrlf(await out.all())).toBe(`READY\n${expected}`);
    expect(lb.agent.faults.fired(channel.sessionId).withholdAcks).toBe(3);
    expect(channel.stats.messagesResent).toBeGreaterThan(0);
    expect(lb.agent.stats(channel.sessionId)?.duplicatesReceived).toBeGreaterThan(0);
  });

  it('ignores duplicated acks', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'stty -echo; echo READY; cat'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    lb.agent.faults.set({ duplicateAcks: 5 }, channel.sessionId);
    for (let i = 0; i < 10; i++) channel.write(`dup ${i}\n`);
    await within(channel.flush(), 20_000, 'input acks');
    channel.write('\u0004');
    const expected = Array.from({ length: 10 }, (_, i) => `dup ${i}\n`).join('');
    expect(unCrlf(await out.all())).toBe(`READY\n${expected}`);
    expect(lb.agent.faults.fired(channel.sessionId).duplicateAcks).toBe(5);
    expect(channel.stats.acksReceived).toBeGreaterThan(channel.stats.messagesSent);
  });

  it('withholds acks for a while, then recovers', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'stty -echo; echo READY; cat'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    lb.agent.faults.set({ withholdAcks: { durationMs: 400 } }, channel.sessionId);
    channel.write('abc\n');
    await within(channel.flush(), 20_000, 'input acks');
    channel.write('\u0004');
    expect(unCrlf(await out.all())).toBe('READY\nabc\n');
    expect(channel.stats.messagesResent).toBeGreaterThan(0);
  });

  it('holds input during paused publication and delivers it afterwards', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'stty -echo; echo READY; cat'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    lb.agent.faults.set({ pausePublication: { afterOutputs: 0, durationMs: 300 } }, channel.sessionId);
    channel.write('ping\n');
    await out.waitFor('ping');
    channel.write('\u0004');
    expect(unCrlf(await out.all())).toBe('READY\nping\n');
    expect(lb.agent.faults.fired(channel.sessionId).pausePublication).toBe(1);
  });

  it('resumes after a dropped socket with input and output in flight', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'stty -echo; echo READY; cat'`);
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    lb.agent.faults.set({ dropSocketAfterOutputs: 3 }, channel.sessionId);
    const lines = Array.from({ length: 50 }, (_, i) => `${i} ${'y'.repeat(200)}\n`).join('');
    channel.write(lines);
    await within(channel.flush(), 20_000, 'input acks');
    channel.write('\u0004');
    expect(unCrlf(await out.all())).toBe(`READY\n${lines}`);
    expect(channel.stats.reconnects).toBe(1);
  });

  it('surfaces a channel_closed error text injected mid-stream', async () => {
    const lb = await loopback();
    lb.agent.faults.set({
      closeWithError: { afterOutputs: 3, text: 'Session terminated by MGS: idle timeout' },
    });
    const channel = await exec(lb, `seq 1 ${LINES}`);
    const out = new Collector(channel.output);
    const end = await within(channel.closed, 15_000, 'close');
    await out.all();
    expect(end).toMatchObject({
      reason: 'channel-closed',
      output: 'Session terminated by MGS: idle timeout',
    });
    expect(end.error?.code).toBe('ssm.channel-closed');
    expect(end.error?.message).toContain('idle timeout');
  });
});

describe('sessions with a handshake', () => {
  it('completes a SessionType handshake and reports the agent', async () => {
    const lb = await loopback({ execHandshake: 'session-type', agentVersion: '3.3.987.0' });
    const channel = await exec(lb, `sh -c 'stty -echo; echo READY; cat'`, { handshake: 'required' });
    const info = await within(channel.established, 10_000, 'handshake');
    expect(info).toMatchObject({
      sessionType: 'InteractiveCommands',
      agentVersion: '3.3.987.0',
      handshake: true,
      encrypted: false,
      customerMessage: '',
      properties: null,
    });
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    channel.write('hi\n');
    await out.waitFor('hi');
    channel.write('\u0004');
    expect(unCrlf(await out.all())).toBe('READY\nhi\n');
    expect(lb.agent.stats(channel.sessionId)?.clientVersion).toBe('1.2.677.0');
  });

  it("holds early input in 'auto' mode so the agent does not drop it during the handshake", async () => {
    const lb = await loopback({ execHandshake: 'session-type' });
    const channel = await exec(lb, `sh -c 'stty -echo; read a; echo "got $a"'`);
    channel.write('early\n');
    const out = await new Collector(channel.output).all();
    expect(unCrlf(out)).toContain('got early');
    expect(lb.agent.stats(channel.sessionId)?.inputDiscarded).toBe(0);
  });

  it('runs a KMS-encrypted session end to end: data key, challenge, encrypted input and output', async () => {
    const kms = createTestKms();
    const lb = await loopback({ decryptDataKey: kms.decryptDataKey });
    const channel = await exec(
      lb,
      `sh -c 'stty -echo; echo READY; head -c 65536 ${seedFile} | base64; cat'`,
      { encryption: { kms: kms.provider, targetId: TARGET_ID } },
      { kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/test' },
    );
    const info = await within(channel.established, 10_000, 'handshake');
    expect(info).toMatchObject({
      encrypted: true,
      handshake: true,
      customerMessage: 'This session is encrypted using AWS KMS.',
    });
    const out = new Collector(channel.output);
    await out.waitFor('READY');
    channel.write('secret input\n');
    await out.waitFor('secret input');
    channel.write('\u0004');
    expect(unCrlf(await out.all())).toBe(`READY\n${base64Lines(seed.subarray(0, 65536))}secret input\n`);
    expect(kms.calls).toEqual({ generate: 1, decrypt: 1 });
  });

  it('binds the KMS key to the random challenge when asked to', async () => {
    const kms = createTestKms();
    const lb = await loopback({ decryptDataKey: kms.decryptDataKey });
    const channel = await exec(
      lb,
      'echo encrypted',
      { encryption: { kms: kms.provider, targetId: TARGET_ID, acknowledgeChallenge: true } },
      { kmsKeyId: 'key' },
    );
    expect(unCrlf(await new Collector(channel.output).all())).toBe('encrypted\n');
  });

  it('fails clearly when the session needs KMS and the client has no provider', async () => {
    const lb = await loopback({ decryptDataKey: createTestKms().decryptDataKey });
    const channel = await exec(lb, 'echo never', {}, { kmsKeyId: 'key' });
    const end = await within(channel.closed, 10_000, 'close');
    expect(end.error?.code).toBe('ssm.handshake-failed');
    expect(end.error?.hint).toContain('KMS');
  });

  it('times out a required handshake that never comes', async () => {
    const lb = await loopback();
    const channel = await exec(lb, `sh -c 'sleep 30'`, {
      handshake: 'required',
      timeouts: { handshakeMs: 300 },
    });
    const end = await within(channel.closed, 10_000, 'close');
    expect(end.error?.code).toBe('ssm.handshake-timeout');
  });
});
