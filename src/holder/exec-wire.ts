// The wire between a warm exec holder and its clients (src/holder/exec-pool.ts, exec-client.ts):
// length-prefixed frames over the holder's Unix socket. Control messages and most events are one
// JSON frame each; a batch of rows and COPY data, the bulk of any result, are binary frames whose
// values travel as their bytes, so a value with NULs, any Unicode or bytes that are not UTF-8 at
// all arrives exactly as it left. Pure: no sockets here, so every case is unit-tested.
//
// Frame: u32 big-endian length of what follows, one type byte, the payload.
//   J  a JSON message (ClientMessage or HolderMessage)
//   R  a batch of rows: u32 row count, u32 column count, then per value an i32 byte length
//      (-1 for NULL) and the value's UTF-8 bytes
//   C  COPY data, the bytes as they are

import { CoderdbError, type ErrorKind, ExitCode } from '../core/errors.js';
import type { RawRow } from '../core/pgtypes.js';
import { scrub } from '../core/secret.js';
import type { OpenOptions, QueryEvent, ServerInfo } from '../transport/types.js';

/** The largest frame either side accepts: a batch of rows is far smaller (decoders batch them). */
export const MAX_FRAME = 64 * 1024 * 1024;

/** What a client may ask for the held session it was given (one statement at a time). */
export type WireOpenOptions = Pick<OpenOptions, 'applicationName' | 'read' | 'role' | 'disabledLayers'>;

export type ClientMessage =
  /** First message: a session for these options (its role picks the psql it gets). */
  | { op: 'open'; options: WireOpenOptions }
  | { op: 'execute'; sql: string }
  /** Ctrl-C: the holder ends the session (it cannot know the state it was left in). */
  | { op: 'cancel' }
  /** The client is done with the session: the holder resets it for the next one. */
  | { op: 'close' };

export type HolderMessage =
  | { op: 'opened'; server: ServerInfo; copyOut: boolean }
  | { op: 'event'; event: QueryEvent }
  /** The statement's events are over. */
  | { op: 'end' }
  /** The statement (or the open) failed with this error; the session stays the client's. */
  | { op: 'error'; error: WireError };

/** A CoderdbError as it crosses the socket: every field the CLI prints or maps to an exit code. */
export interface WireError {
  kind: ErrorKind;
  code: string;
  message: string;
  hint?: string;
  detail?: string;
  sqlState?: string;
  position?: number;
}

export type WireMessage = ClientMessage | HolderMessage;

const JSON_FRAME = 0x4a; // J
const ROWS_FRAME = 0x52; // R
const COPY_FRAME = 0x43; // C

/** One message as a frame. A rows or copy event goes binary; everything else as JSON. */
export function encodeMessage(message: WireMessage): Buffer {
  if (message.op === 'event' && message.event.kind === 'rows')
    return frame(ROWS_FRAME, encodeRows(message.event.rows));
  if (message.op === 'event' && message.event.kind === 'copy') return frame(COPY_FRAME, message.event.data);
  return frame(JSON_FRAME, Buffer.from(JSON.stringify(message), 'utf8'));
}

function frame(type: number, payload: Buffer): Buffer {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt32BE(payload.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, payload]);
}

function encodeRows(rows: readonly RawRow[]): Buffer {
  const columns = rows[0]?.length ?? 0;
  const values = rows.flatMap((row) => {
    if (row.length !== columns) throw new CoderdbError('internal', 'holder.wire', 'rows of unequal width');
    return row.map((value) => (value === null ? null : Buffer.from(value, 'utf8')));
  });
  let size = 8;
  for (const value of values) size += 4 + (value?.length ?? 0);
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(rows.length, 0);
  out.writeUInt32BE(columns, 4);
  let at = 8;
  for (const value of values) {
    out.writeInt32BE(value === null ? -1 : value.length, at);
    at += 4;
    if (value) at += value.copy(out, at);
  }
  return out;
}

function decodeRows(payload: Buffer): RawRow[] {
  if (payload.length < 8) throw wireError('a rows frame is too short');
  const count = payload.readUInt32BE(0);
  const columns = payload.readUInt32BE(4);
  // Each value takes at least its 4-byte length: a count the payload cannot hold is refused early.
  if (count * columns * 4 > payload.length - 8) throw wireError('a rows frame is truncated');
  const rows: RawRow[] = [];
  let at = 8;
  for (let r = 0; r < count; r += 1) {
    const row: RawRow = [];
    for (let c = 0; c < columns; c += 1) {
      if (at + 4 > payload.length) throw wireError('a rows frame is truncated');
      const length = payload.readInt32BE(at);
      at += 4;
      if (length === -1) {
        row.push(null);
        continue;
      }
      if (length < 0 || at + length > payload.length) throw wireError('a rows frame is truncated');
      row.push(payload.toString('utf8', at, at + length));
      at += length;
    }
    rows.push(row);
  }
  if (at !== payload.length) throw wireError('a rows frame has trailing bytes');
  return rows;
}

/**
 * Splits a byte stream into messages. Throws (a CoderdbError) on a frame that is too large, of
 * an unknown type or malformed: the connection is then of no further use.
 */
export class FrameDecoder {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): WireMessage[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const messages: WireMessage[] = [];
    for (;;) {
      if (this.#buffer.length < 4) break;
      const length = this.#buffer.readUInt32BE(0);
      if (length < 1 || length > MAX_FRAME + 1) throw wireError(`a frame of ${length} bytes`);
      if (this.#buffer.length < 4 + length) break;
      const type = this.#buffer[4];
      const payload = this.#buffer.subarray(5, 4 + length);
      this.#buffer = this.#buffer.subarray(4 + length);
      messages.push(decodeFrame(type, payload));
    }
    return messages;
  }

  /** Bytes of a frame not yet complete (a stream that ends here was cut). */
  get pending(): number {
    return this.#buffer.length;
  }
}

function decodeFrame(type: number | undefined, payload: Buffer): WireMessage {
  switch (type) {
    case ROWS_FRAME:
      return { op: 'event', event: { kind: 'rows', rows: decodeRows(payload) } };
    case COPY_FRAME:
      // A copy of its own: the decoder's buffer is reused for the next frames.
      return { op: 'event', event: { kind: 'copy', data: Buffer.from(payload) } };
    case JSON_FRAME: {
      let message: unknown;
      try {
        message = JSON.parse(payload.toString('utf8'));
      } catch {
        throw wireError('a JSON frame is not JSON');
      }
      if (
        typeof message !== 'object' ||
        message === null ||
        typeof (message as { op?: unknown }).op !== 'string'
      ) {
        throw wireError('a JSON frame is not a message');
      }
      return message as WireMessage;
    }
    default:
      throw wireError(`a frame of unknown type ${type}`);
  }
}

/** An error as it crosses to the client, secrets scrubbed; anything not a CoderdbError is internal. */
export function toWireError(error: unknown): WireError {
  if (!(error instanceof CoderdbError)) {
    return {
      kind: 'internal',
      code: 'holder.internal',
      message: scrub(error instanceof Error ? error.message : String(error)),
    };
  }
  return {
    kind: error.kind,
    code: error.code,
    message: scrub(error.message),
    ...(error.hint !== undefined ? { hint: scrub(error.hint) } : {}),
    ...(error.detail !== undefined ? { detail: scrub(error.detail) } : {}),
    ...(error.sqlState !== undefined ? { sqlState: error.sqlState } : {}),
    ...(error.position !== undefined ? { position: error.position } : {}),
  };
}

/** The client's CoderdbError, the very one a cold exec session would have thrown. */
export function fromWireError(wire: WireError): CoderdbError {
  const kind: ErrorKind =
    Object.hasOwn(ExitCode, wire.kind) && wire.kind !== ('ok' as string) ? wire.kind : 'internal';
  return new CoderdbError(kind, String(wire.code), String(wire.message), {
    ...(wire.hint !== undefined ? { hint: wire.hint } : {}),
    ...(wire.detail !== undefined ? { detail: wire.detail } : {}),
    ...(wire.sqlState !== undefined ? { sqlState: wire.sqlState } : {}),
    ...(wire.position !== undefined ? { position: wire.position } : {}),
  });
}

function wireError(what: string): CoderdbError {
  return new CoderdbError('connection', 'holder.protocol', `the warm session sent a bad frame: ${what}`);
}
