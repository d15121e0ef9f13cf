// The incremental decoders must give the same answer however the bytes are cut into chunks: the
// channel delivers pty output in pieces of any size, split anywhere (inside a base64 group, a CSV
// quote pair, a UTF-8 character).

import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  Base64Decoder,
  CopyRowCounter,
  CsvParser,
  GunzipDecoder,
} from '../../../src/transport/exec/decoders.js';

/** Splits `bytes` at pseudo-random points (deterministic per seed), including empty pieces. */
function cut(bytes: Buffer, seed: number): Buffer[] {
  const pieces: Buffer[] = [];
  let state = seed;
  let at = 0;
  while (at < bytes.length) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const size = state % 23;
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

/** base64 wrapped at 76 columns, as `base64` prints it. */
function wrapped(bytes: Buffer): Buffer {
  return Buffer.from(`${bytes.toString('base64').replace(/.{76}/g, '$&\n')}\n`, 'latin1');
}

const AWKWARD = Buffer.from(
  'plain,"quoted, with comma","with ""quotes""","multi\nline\r\nvalue",,""\n' +
    'émoji 🦆,tab\there,"\u0001\u001f control",\\N,NULL,\uFFFD\n',
  'utf8',
);

describe('Base64Decoder', () => {
  it('decodes wrapped base64 cut anywhere', () => {
    const data = Buffer.concat([AWKWARD, Buffer.from([0, 255, 254, 10, 13])]);
    for (let seed = 1; seed < 40; seed++) {
      const decoder = new Base64Decoder();
      const out = Buffer.concat(cut(wrapped(data), seed).map((piece) => decoder.push(piece)));
      decoder.end();
      expect(out.equals(data)).toBe(true);
    }
  });

  it('refuses output that is not base64, and output cut short', () => {
    expect(() => new Base64Decoder().push(Buffer.from('ab,cd'))).toThrow(/not base64/);
    const decoder = new Base64Decoder();
    decoder.push(Buffer.from('QUJD\nQU'));
    expect(() => decoder.end()).toThrow(/cut short/);
  });
});

describe('GunzipDecoder', () => {
  it('inflates a gzip stream fed in pieces', async () => {
    const data = Buffer.concat(Array.from({ length: 200 }, () => AWKWARD));
    const decoder = new GunzipDecoder();
    const parts: Buffer[] = [];
    for (const piece of cut(gzipSync(data, { level: 1 }), 7)) parts.push(await decoder.push(piece));
    parts.push(await decoder.end());
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('reports corrupt input as garbled output', async () => {
    const decoder = new GunzipDecoder();
    await expect(
      (async () => {
        await decoder.push(Buffer.from('this is not gzip at all'));
        await decoder.end();
      })(),
    ).rejects.toMatchObject({ code: 'exec.garbled-output' });
  });
});

describe('CsvParser', () => {
  const expected = [
    ['plain', 'quoted, with comma', 'with "quotes"', 'multi\nline\r\nvalue', '', ''],
    ['émoji 🦆', 'tab\there', '\u0001\u001f control', '\\N', 'NULL', '\uFFFD'],
  ];

  it('parses records the same way however the input is cut', () => {
    for (let seed = 1; seed < 60; seed++) {
      const parser = new CsvParser();
      const records = cut(AWKWARD, seed).flatMap((piece) => parser.push(piece));
      expect(parser.idle).toBe(true);
      expect(records.map((record) => record.map((field) => field.toString('utf8')))).toEqual(expected);
    }
  });

  it('keeps an empty line as one empty field, and says when a record is unfinished', () => {
    const parser = new CsvParser();
    expect(parser.push(Buffer.from('\n\n')).map((r) => r.map(String))).toEqual([[''], ['']]);
    parser.push(Buffer.from('a,"open'));
    expect(parser.idle).toBe(false);
  });

  it('refuses a quote followed by anything but a quote, comma or newline', () => {
    expect(() => new CsvParser().push(Buffer.from('"a"b\n'))).toThrow(/malformed/);
  });
});

describe('CopyRowCounter', () => {
  it('counts CSV rows, not the newlines inside quoted fields', () => {
    const counter = new CopyRowCounter('csv');
    for (const piece of cut(AWKWARD, 3)) counter.push(piece);
    expect(counter.count).toBe(2);
  });

  it('counts text-format rows by their newlines', () => {
    const counter = new CopyRowCounter('text');
    counter.push(Buffer.from('1\ta\\nb\n2\t'));
    counter.push(Buffer.from('c\n'));
    expect(counter.count).toBe(2);
  });
});
