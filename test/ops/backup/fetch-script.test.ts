// The parallel backup's fetcher script, run by the real sh against a dump directory this test plays
// pg_dump in: two fetchers follow a table's file while it is still being written (whole chunks only,
// size unknown), take the rest once pg_dump's log names it finished, and the other files once the
// dump's status appears; every chunk goes out exactly once and the ChunkAssembler rebuilds the
// files byte for byte from both sessions.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChunkAssembler } from '../../../src/ops/backup/chunks.js';
import { FrameReader } from '../../../src/ops/backup/frame.js';
import { CHUNK_SIZE, parallelFetchScript } from '../../../src/ops/backup/remote-script.js';

const nonce = '0123456789ab';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('parallel fetcher script', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('streams a table while pg_dump writes it, then the rest, each chunk once', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'coderdb-fetch-'));
    const out = mkdtempSync(join(tmpdir(), 'coderdb-fetch-out-'));
    const fetchers: ChildProcess[] = [];
    cleanups.push(() => {
      for (const child of fetchers) child.kill('SIGKILL');
      rmSync(tmp, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    });
    const dir = join(tmp, `coderdb-backup-${nonce}`);
    mkdirSync(join(dir, 'claim'), { recursive: true });
    mkdirSync(join(dir, 'dump'));
    writeFileSync(join(dir, 'log'), '');
    const table = join(dir, 'dump', '3801.dat.gz');
    const toc = join(dir, 'dump', 'toc.dat');
    // Two whole chunks and part of a third, as pg_dump has written so far.
    const written = randomBytes(2 * CHUNK_SIZE + 1000);
    writeFileSync(table, written);
    writeFileSync(toc, 'table of contents '.repeat(100));

    const assembler = new ChunkAssembler(out);
    const headers: string[][] = [];
    const readers: Promise<void>[] = [];
    const script = parallelFetchScript({ nonce, urlEnv: 'CODER_PG_CONNECTION_URL' });
    for (let i = 0; i < 2; i++) {
      const child = spawn('sh', ['-c', script], {
        env: { ...process.env, TMPDIR: tmp, CODER_PG_CONNECTION_URL: 'postgres://x@127.0.0.1/x' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      fetchers.push(child);
      const reader = new FrameReader(nonce, {
        section: (name, args) => {
          if (name !== 'chunk') return undefined;
          headers.push(args);
          return assembler.chunk(args);
        },
      });
      readers.push(
        (async () => {
          for await (const bytes of child.stdout!) await reader.write(bytes as Buffer);
          expect(reader.end().done).toBe(true);
        })(),
      );
    }
    const sent = (name: string) => headers.filter(([file]) => file === name);

    await until('the whole chunks of the table being written', () => sent('3801.dat.gz').length === 2);
    expect(
      sent('3801.dat.gz')
        .map(([, index, size, packing]) => [index, size, packing])
        .sort(),
    ).toEqual([
      ['0', '-', 'none'],
      ['1', '-', 'none'],
    ]);
    expect(sent('toc.dat')).toEqual([]);

    const rest = randomBytes(CHUNK_SIZE / 2);
    appendFileSync(table, rest);
    const tableBytes = Buffer.concat([written, rest]);
    appendFileSync(join(dir, 'log'), 'pg_dump: finished item 3801 TABLE DATA public.bench_payload\n');
    await until('the table once finished', () => sent('3801.dat.gz').length === 3);
    expect(sent('3801.dat.gz').find(([, index]) => index === '2')).toEqual([
      '3801.dat.gz',
      '2',
      String(tableBytes.length),
      'none',
    ]);
    expect(sent('toc.dat')).toEqual([]);

    writeFileSync(join(dir, 'rc'), '0\n');
    await Promise.race([
      Promise.all(readers),
      sleep(20_000).then(() => {
        throw new Error('the fetchers did not finish');
      }),
    ]);
    expect(sent('toc.dat')).toEqual([['toc.dat', '0', String(readFileSync(toc).length), 'gzip']]);

    for (const [name, bytes] of [
      ['3801.dat.gz', tableBytes],
      ['toc.dat', readFileSync(toc)],
    ] as const) {
      assembler.expect([name, String(bytes.length), sha256(bytes)]);
    }
    const members = await assembler.finish();
    expect(members.map((member) => member.name)).toEqual(['toc.dat', '3801.dat.gz']);
    expect(readFileSync(join(out, '3801.dat.gz')).equals(tableBytes)).toBe(true);
  });

  it('a file listed bigger than its streamed chunks is incomplete', async () => {
    const out = mkdtempSync(join(tmpdir(), 'coderdb-fetch-out-'));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    const assembler = new ChunkAssembler(out);
    const chunk = randomBytes(CHUNK_SIZE);
    const sink = assembler.chunk(['1.dat', '0', '-', 'none']);
    await sink.write(chunk);
    await sink.end(['0']);
    const whole = Buffer.concat([chunk, Buffer.from('tail')]);
    assembler.expect(['1.dat', String(whole.length), sha256(whole)]);
    await expect(assembler.finish()).rejects.toThrow(/1\.dat is incomplete \(1 of 2 chunks\)/);
  });

  it('a streamed chunk that is not whole is refused', async () => {
    const out = mkdtempSync(join(tmpdir(), 'coderdb-fetch-out-'));
    cleanups.push(() => rmSync(out, { recursive: true, force: true }));
    const assembler = new ChunkAssembler(out);
    const sink = assembler.chunk(['1.dat', '0', '-', 'none']);
    await sink.write(randomBytes(CHUNK_SIZE - 1));
    await expect(Promise.resolve(sink.end(['0']))).rejects.toThrow(/expected 262144/);
    await assembler.close();
  });
});
