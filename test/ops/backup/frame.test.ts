// The line framing of container output: sections decode to the exact bytes, noise and terminal
// line endings are tolerated, and every way a stream can be cut or damaged is detected.

import { describe, expect, it } from 'vitest';
import { FrameReader } from '../../../src/ops/backup/frame.js';

const NONCE = 'a1b2c3d4e5f6';
const marker = (text: string) => `@CDB:${NONCE}:${text}\n`;

function encode(bytes: Buffer, width = 76): string {
  const text = bytes.toString('base64');
  let out = '';
  for (let index = 0; index < text.length; index += width) out += `${text.slice(index, index + width)}\n`;
  return out;
}

async function feed(reader: FrameReader, text: string, pieceSize = 7): Promise<void> {
  const bytes = Buffer.from(text, 'latin1');
  for (let offset = 0; offset < bytes.length; offset += pieceSize) {
    await reader.write(bytes.subarray(offset, offset + pieceSize));
  }
}

describe('FrameReader', () => {
  it('decodes a streamed section byte for byte, across arbitrary chunk boundaries', async () => {
    const payload = Buffer.from(Array.from({ length: 5000 }, (_, index) => (index * 37) % 256));
    const received: Buffer[] = [];
    let status: string[] | undefined;
    const events: string[] = [];
    const reader = new FrameReader(NONCE, {
      event: (verb, args) => events.push([verb, ...args].join(' ')),
      section: (name, args) => {
        expect(name).toBe('data');
        expect(args).toEqual(['gzip']);
        return {
          write: (bytes) => {
            received.push(bytes);
          },
          end: (words) => {
            status = words;
          },
        };
      },
    });
    const text = `${marker('start')}${marker('info pg_dump pg_dump (PostgreSQL) 15.18')}${marker('begin data gzip')}${encode(payload)}${marker('end data 0')}${marker('done')}`;
    await feed(reader, text);
    const outcome = reader.end();
    expect(outcome.done).toBe(true);
    expect(Buffer.concat(received).equals(payload)).toBe(true);
    expect(status).toEqual(['0']);
    expect(events).toEqual(['start', 'info pg_dump pg_dump (PostgreSQL) 15.18']);
  });

  it('collects small sections, strips CR (a terminal without raw mode) and keeps noise apart', async () => {
    const reader = new FrameReader(NONCE);
    const json = Buffer.from('{"database":"coder"}');
    const text = `sh: warning: something\r\n${marker('begin probe')}${encode(json, 8)}${marker('end probe 0')}${marker('done')}`;
    await feed(reader, text.replace(/\n/g, '\r\n'), 5);
    const outcome = reader.end();
    expect(outcome.done).toBe(true);
    expect(outcome.sections.get('probe')?.data.toString()).toBe('{"database":"coder"}');
    expect(outcome.sections.get('probe')?.status).toEqual(['0']);
    expect(outcome.noise).toEqual(['sh: warning: something']);
  });

  it('treats markers of another nonce as noise, never as frames', async () => {
    const reader = new FrameReader(NONCE);
    await feed(reader, `@CDB:ffffffffffff:done\n${marker('done')}`);
    const outcome = reader.end();
    expect(outcome.done).toBe(true);
    expect(outcome.noise).toEqual(['@CDB:ffffffffffff:done']);
  });

  it('reports a stream cut inside a section as not done, with the open section named', async () => {
    const reader = new FrameReader(NONCE, {
      section: () => ({ write: () => undefined, end: () => undefined }),
    });
    await feed(reader, `${marker('begin data gzip')}${encode(Buffer.alloc(300, 7))}`);
    const outcome = reader.end();
    expect(outcome.done).toBe(false);
    expect(outcome.openSection).toBe('data');
  });

  it('reports a stream cut after a section but before done as not done', async () => {
    const reader = new FrameReader(NONCE);
    await feed(
      reader,
      `${marker('begin probe')}${encode(Buffer.from('x'))}${marker('end probe 0')}@CDB:${NONCE}:do`,
    );
    expect(reader.end().done).toBe(false);
  });

  it('fails on anything but base64 inside a section (interleaved stderr, a damaged line)', async () => {
    const reader = new FrameReader(NONCE, {
      section: () => ({ write: () => undefined, end: () => undefined }),
    });
    await expect(
      feed(reader, `${marker('begin data none')}QUJD\npg_dump: error: oops\n`),
    ).rejects.toMatchObject({
      code: 'backup.stream-corrupt',
    });
  });

  it('fails when a section ends in the middle of a base64 group', async () => {
    const reader = new FrameReader(NONCE);
    await expect(feed(reader, `${marker('begin probe')}QUJ\n${marker('end probe 0')}`)).rejects.toMatchObject(
      {
        code: 'backup.stream-corrupt',
      },
    );
  });

  it('fails when another marker arrives inside an unfinished section', async () => {
    const reader = new FrameReader(NONCE);
    await expect(feed(reader, `${marker('begin probe')}QUJD\n${marker('done')}`)).rejects.toMatchObject({
      code: 'backup.stream-corrupt',
    });
  });

  it('ignores everything after done', async () => {
    const reader = new FrameReader(NONCE);
    await feed(reader, `${marker('done')}garbage\n${marker('begin x')}`);
    const outcome = reader.end();
    expect(outcome.done).toBe(true);
    expect(outcome.sections.size).toBe(0);
  });
});
