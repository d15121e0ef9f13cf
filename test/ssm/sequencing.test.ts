import { describe, expect, it } from 'vitest';
import { type Frame, MessageType } from '../../src/ssm/codec.js';
import { RETRANSMISSION, RetransmissionTimer } from '../../src/ssm/rto.js';
import { IncomingSequencer, OutgoingBuffer } from '../../src/ssm/sequencing.js';
import { backoffDelays, PLUGIN_BACKOFF, withTimeout } from '../../src/ssm/timing.js';

const frame = (sequenceNumber: number): Frame => ({
  messageType: MessageType.outputStreamData,
  schemaVersion: 1,
  createdDate: 1,
  sequenceNumber,
  flags: 0,
  messageId: '00000000-0000-0000-0000-000000000000',
  payloadType: 1,
  payload: Buffer.from(String(sequenceNumber)),
});

describe('IncomingSequencer', () => {
  it('delivers in order, buffers the future, and releases it when the gap fills', () => {
    const incoming = new IncomingSequencer();
    expect(incoming.accept(frame(0))).toEqual({ kind: 'in-order', deliver: [frame(0)] });
    expect(incoming.accept(frame(2)).kind).toBe('future');
    expect(incoming.accept(frame(3)).kind).toBe('future');
    expect(incoming.buffered).toBe(2);
    const arrival = incoming.accept(frame(1));
    expect(arrival.kind === 'in-order' && arrival.deliver.map((f) => f.sequenceNumber)).toEqual([1, 2, 3]);
    expect(incoming.expected).toBe(4);
    expect(incoming.buffered).toBe(0);
  });

  it('reports duplicates, delivered or buffered, and overflow', () => {
    const incoming = new IncomingSequencer(1);
    incoming.accept(frame(0));
    expect(incoming.accept(frame(0)).kind).toBe('duplicate');
    expect(incoming.accept(frame(5)).kind).toBe('future');
    expect(incoming.accept(frame(5)).kind).toBe('duplicate');
    expect(incoming.accept(frame(6)).kind).toBe('overflow');
  });
});

describe('OutgoingBuffer', () => {
  it('removes exactly the acknowledged message (selective acks) and ignores unknown ones', () => {
    const outgoing = new OutgoingBuffer();
    for (const seq of [0, 1, 2]) outgoing.markSent(outgoing.add(seq, Buffer.from([seq])), 1000);
    expect(outgoing.acknowledge(1, 1050)).toBe(true);
    expect(outgoing.acknowledge(1, 1060)).toBe(false);
    expect(outgoing.acknowledge(99, 1060)).toBe(false);
    expect(outgoing.all().map((m) => m.sequenceNumber)).toEqual([0, 2]);
    expect(outgoing.oldest()?.sequenceNumber).toBe(0);
  });

  it('offers only the oldest message for resend, and only after the timeout', () => {
    const outgoing = new OutgoingBuffer();
    const first = outgoing.add(0, Buffer.from('a'));
    outgoing.markSent(first, 1000);
    outgoing.markSent(outgoing.add(1, Buffer.from('b')), 900);
    expect(outgoing.dueForResend(1000 + RETRANSMISSION.initialTimeoutMs)).toBeUndefined();
    expect(outgoing.dueForResend(1001 + RETRANSMISSION.initialTimeoutMs)).toBe(first);
    outgoing.markSent(first, 1300);
    expect(first.resends).toBe(1);
    expect(outgoing.dueForResend(1400)).toBeUndefined();
  });

  it('never offers an unsent message for resend and forgets send times for a new connection', () => {
    const outgoing = new OutgoingBuffer();
    const message = outgoing.add(0, Buffer.from('a'));
    expect(outgoing.dueForResend(10_000)).toBeUndefined();
    outgoing.markSent(message, 1);
    outgoing.forgetSendTimes();
    expect(message.lastSentAt).toBe(0);
    expect(message.firstSentAt).toBe(0);
  });
});

describe('RetransmissionTimer', () => {
  it('starts at 200 ms, follows Jacobson/Karels and caps at 1 s', () => {
    const timer = new RetransmissionTimer();
    expect(timer.timeoutMs).toBe(200);
    timer.observe(100);
    // RTTVAR = 0, RTT = 100 → 100 + max(10, 0)
    expect(timer.timeoutMs).toBe(110);
    timer.observe(20);
    // RTTVAR = 0.25·80 = 20; RTT = 0.875·100 + 0.125·20 = 90 → 90 + 80
    expect(timer.timeoutMs).toBeCloseTo(170);
    for (let i = 0; i < 50; i++) timer.observe(5000);
    expect(timer.timeoutMs).toBe(1000);
  });
});

describe('timing', () => {
  it('backs off like the plugin: 5 attempts, 100–200 ms first, doubling, 5 s cap', () => {
    expect(backoffDelays(PLUGIN_BACKOFF, () => 0)).toEqual([100, 200, 400, 800]);
    expect(backoffDelays(PLUGIN_BACKOFF, () => 0.5)).toEqual([150, 300, 600, 1200]);
    expect(backoffDelays({ ...PLUGIN_BACKOFF, attempts: 8 }, () => 0).at(-1)).toBe(5000);
  });

  it('rejects when the deadline passes first', async () => {
    await expect(withTimeout(new Promise(() => {}), 10, () => new Error('late'))).rejects.toThrow('late');
    await expect(withTimeout(Promise.resolve(1), 1000, () => new Error('late'))).resolves.toBe(1);
  });
});
