// 100 seeded random sessions through the emulated agent under random faults (bench/soak/soak.ts,
// the same run as `npm run soak`): every byte back by hash, none lost, corrupted, duplicated or hung.

import { describe, expect, it } from 'vitest';
import { Prng } from '../../bench/soak/prng.js';
import { awkwardChunks, classify, formatReport, runSoak, soakPassed } from '../../bench/soak/soak.js';
import { Collector, openExec, seqLines, startLoopback, unCrlf } from '../sandbox/agent/harness.js';

describe('soak', () => {
  it('the PRNG replays a seed and the chunker covers the data exactly', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    expect(Array.from({ length: 5 }, () => a.int(0, 1000))).toEqual(
      Array.from({ length: 5 }, () => b.int(0, 1000)),
    );
    const data = new Prng(1).bytes(10_000);
    expect(Buffer.concat(awkwardChunks(new Prng(2), data)).equals(data)).toBe(true);
  });

  it('names a mismatch by what it looks like', () => {
    const data = Buffer.from('abcdef');
    expect(classify(data, Buffer.from('abcdef'))).toBe('ok');
    expect(classify(data, Buffer.from('abcde'))).toBe('lost');
    expect(classify(data, Buffer.from('abcdeff'))).toBe('duplicated');
    expect(classify(data, Buffer.from('abcdeg'))).toBe('corrupted');
  });

  it('resumes after each of several dropped sockets in one session (dropSocketTimes)', async () => {
    const loopback = await startLoopback();
    try {
      loopback.agent.faults.set({ dropSocketAfterOutputs: 5, dropSocketTimes: 3 });
      const channel = await openExec(loopback, 'seq 1 20000');
      const out = await new Collector(channel.output).all();
      expect(unCrlf(out) === seqLines(20_000)).toBe(true);
      expect((await channel.closed).error).toBeUndefined();
      expect(loopback.agent.faults.fired(channel.sessionId).dropSocketAfterOutputs).toBe(3);
      expect(channel.stats.reconnects).toBe(3);
    } finally {
      await loopback.close();
    }
  });

  it('100 sessions with seed 42: nothing lost, corrupted, duplicated or hung', async () => {
    const report = await runSoak({ sessions: 100, seed: 42, maxBytes: 16 * 1024, concurrency: 4 });
    const trouble = report.results.filter((result) => result.outcome !== 'ok');
    expect(trouble, formatReport(report)).toEqual([]);
    expect(soakPassed(report)).toBe(true);
    // The faults really happened, every kind of them, in every kind of session.
    for (const fault of [
      'dropOutputs',
      'corruptDigest',
      'duplicateOutputs',
      'reorderOutputs',
      'duplicateAcks',
      'withholdAcks',
      'dropSocketAfterOutputs',
      'pausePublication',
    ]) {
      expect(report.fired[fault], fault).toBeGreaterThan(0);
    }
    expect(Object.values(report.byKind).every((count) => count > 0)).toBe(true);
  });
});
