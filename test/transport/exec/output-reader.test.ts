// Marker lines must be found wherever the chunk boundaries fall, and nothing else may pass for one.

import { describe, expect, it } from 'vitest';
import { type OutputItem, OutputReader } from '../../../src/transport/exec/output-reader.js';

const PREFIX = '@0123456789abcdef0123456789abcdef';

/** Feeds `text` in pieces of `size` bytes and merges adjacent data items. */
function read(text: string | Buffer, size: number): (string | [string, ...string[]])[] {
  const reader = new OutputReader(PREFIX);
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const items: OutputItem[] = [];
  for (let at = 0; at < bytes.length; at += size) items.push(...reader.push(bytes.subarray(at, at + size)));
  items.push(...reader.end());
  const merged: (string | [string, ...string[]])[] = [];
  for (const item of items) {
    if (item.kind === 'marker') merged.push([item.name, ...item.args]);
    else if (typeof merged.at(-1) === 'string') merged[merged.length - 1] += item.bytes.toString('utf8');
    else merged.push(item.bytes.toString('utf8'));
  }
  return merged;
}

describe('OutputReader', () => {
  const stream =
    `noise before\n${PREFIX} ready raw gzip\n${PREFIX} R 1 plain\nQUJD\nREVG\n` +
    `${PREFIX} X 1\n\n${PREFIX} S 1 42\n@not-a-marker line\n${PREFIX}x no space\n${PREFIX} Z 1\n`;
  const expected = [
    'noise before\n',
    ['ready', 'raw', 'gzip'],
    ['R', '1', 'plain'],
    'QUJD\nREVG\n',
    ['X', '1'],
    '\n',
    ['S', '1', '42'],
    `@not-a-marker line\n${PREFIX}x no space\n`,
    ['Z', '1'],
  ];

  it('finds markers at line starts however the stream is cut', () => {
    for (const size of [1, 2, 3, 7, 16, 33, 64, 1000]) expect(read(stream, size)).toEqual(expected);
  });

  it('drops carriage returns (a pty left in cooked mode turns \\n into \\r\\n)', () => {
    expect(read(stream.replace(/\n/g, '\r\n'), 5)).toEqual(expected);
  });

  it('treats a marker-like text in the middle of a line as data', () => {
    expect(read(`abc ${PREFIX} Z 1\n`, 4)).toEqual([`abc ${PREFIX} Z 1\n`]);
  });

  it('gives up on a very long line that starts with @ and passes it on as data', () => {
    const long = `@${'x'.repeat(5000)}\n${PREFIX} Z 9\n`;
    const items = read(long, 100);
    expect(items).toEqual([`@${'x'.repeat(5000)}\n`, ['Z', '9']]);
  });

  it('hands an unterminated last line on as data at the end', () => {
    expect(read(`${PREFIX} Z 1\n@partial`, 3)).toEqual([['Z', '1'], '@partial']);
  });
});
