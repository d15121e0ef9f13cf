// The warm exec holder's wire (src/holder/exec-wire.ts): every message survives the trip exactly,
// however the byte stream is cut, and a malformed stream is refused rather than misread.

import { describe, expect, it } from 'vitest';
import { CoderdbError } from '../../src/core/errors.js';
import {
  encodeMessage,
  FrameDecoder,
  fromWireError,
  toWireError,
  type WireMessage,
} from '../../src/holder/exec-wire.js';

const messages: WireMessage[] = [
  {
    op: 'open',
    options: {
      applicationName: 'coderdb query',
      role: 'reader',
      read: { statementTimeoutMs: 5, lockTimeoutMs: 0 },
    },
  },
  {
    op: 'opened',
    server: { versionNum: 150004, version: 'PostgreSQL 15.4', database: 'coder', user: 'coder' },
    copyOut: true,
  },
  { op: 'execute', sql: "select 'é', E'\\x01'" },
  {
    op: 'event',
    event: {
      kind: 'fields',
      fields: [{ name: 'a', type: { name: 'text', kind: 'text', array: false } }],
    },
  },
  {
    op: 'event',
    event: {
      kind: 'rows',
      rows: [
        ['plain', null, ''],
        ['nul\u0000inside', 'ünïcödé 😀 \u{10ffff}', '\ufffd replacement'],
        [null, null, null],
      ],
    },
  },
  { op: 'event', event: { kind: 'rows', rows: [] } },
  { op: 'event', event: { kind: 'rows', rows: [[], []] } },
  {
    op: 'event',
    event: { kind: 'notice', severity: 'WARNING', message: 'there is no transaction in progress' },
  },
  {
    op: 'event',
    event: { kind: 'copy', data: Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a, 0xe2, 0x82]) },
  },
  { op: 'event', event: { kind: 'copy', data: Buffer.alloc(0) } },
  { op: 'event', event: { kind: 'done', command: 'SELECT', rowCount: 3 } },
  { op: 'end' },
  {
    op: 'error',
    error: {
      kind: 'sql',
      code: 'sql.42601',
      message: 'syntax error',
      position: 8,
      sqlState: '42601',
      detail: 'LINE 1',
      hint: 'h',
    },
  },
  { op: 'cancel' },
  { op: 'close' },
];

function decodeAll(bytes: Buffer, cut: number[]): WireMessage[] {
  const decoder = new FrameDecoder();
  const out: WireMessage[] = [];
  let at = 0;
  for (const end of [...cut, bytes.length]) {
    out.push(...decoder.push(bytes.subarray(at, end)));
    at = end;
  }
  expect(decoder.pending).toBe(0);
  return out;
}

describe('exec holder wire', () => {
  const stream = Buffer.concat(messages.map(encodeMessage));

  it('round-trips every message whole', () => {
    expect(decodeAll(stream, [])).toEqual(messages);
  });

  it('round-trips however the stream is cut (every byte boundary, and byte by byte)', () => {
    for (let cut = 1; cut < stream.length; cut += 1) expect(decodeAll(stream, [cut])).toEqual(messages);
    const bytes = Array.from({ length: stream.length - 1 }, (_, i) => i + 1);
    expect(decodeAll(stream, bytes)).toEqual(messages);
  });

  it('sends rows and copy data as binary frames (the bytes as they are)', () => {
    const copy = messages.find((m) => m.op === 'event' && m.event.kind === 'copy')!;
    const frame = encodeMessage(copy);
    expect(String.fromCharCode(frame[4]!)).toBe('C');
    expect(frame.subarray(5)).toEqual(Buffer.from([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x0a, 0xe2, 0x82]));
    const rows = encodeMessage({ op: 'event', event: { kind: 'rows', rows: [['a\u0000b']] } });
    expect(String.fromCharCode(rows[4]!)).toBe('R');
    expect(rows.includes(Buffer.from('a\u0000b'))).toBe(true);
  });

  it('refuses a malformed stream with one clear error', () => {
    const bad = (bytes: Buffer) => () => new FrameDecoder().push(bytes);
    const frame = (type: string, payload: Buffer) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(payload.length + 1, 0);
      head.write(type, 4, 'latin1');
      return Buffer.concat([head, payload]);
    };
    expect(bad(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x4a]))).toThrow(/bad frame: a frame of/);
    expect(bad(Buffer.from([0, 0, 0, 0]))).toThrow(/bad frame/);
    expect(bad(frame('X', Buffer.alloc(1)))).toThrow(/unknown type/);
    expect(bad(frame('J', Buffer.from('{nope')))).toThrow(/not JSON/);
    expect(bad(frame('J', Buffer.from('[1]')))).toThrow(/not a message/);
    const rows = encodeMessage({ op: 'event', event: { kind: 'rows', rows: [['abc', null]] } });
    for (let cut = 6; cut < rows.length; cut += 1) {
      const truncated = Buffer.from(rows.subarray(0, cut));
      truncated.writeUInt32BE(cut - 4, 0);
      expect(bad(truncated)).toThrow(CoderdbError);
    }
    const huge = Buffer.alloc(13);
    huge.writeUInt32BE(9, 0);
    huge.write('R', 4, 'latin1');
    huge.writeUInt32BE(0xffffffff, 5);
    huge.writeUInt32BE(0xffffffff, 9);
    expect(bad(huge)).toThrow(/truncated/);
  });

  it('carries every field of a CoderdbError, secrets scrubbed', () => {
    const error = new CoderdbError('sql', 'sql.22012', 'division by zero', {
      sqlState: '22012',
      position: 10,
      detail: 'LINE 1: select 1/0',
      hint: 'do not',
    });
    const back = fromWireError(JSON.parse(JSON.stringify(toWireError(error))));
    expect(back).toBeInstanceOf(CoderdbError);
    for (const key of [
      'kind',
      'code',
      'message',
      'sqlState',
      'position',
      'detail',
      'hint',
      'exitCode',
    ] as const) {
      expect(back[key]).toEqual(error[key]);
    }
    const leaky = toWireError(new Error('failed for postgres://coder:hunter2@db/coder'));
    expect(leaky).toMatchObject({ kind: 'internal', code: 'holder.internal' });
    expect(leaky.message).not.toContain('hunter2');
    expect(fromWireError({ kind: 'bogus' as never, code: 'x', message: 'm' }).kind).toBe('internal');
  });
});
