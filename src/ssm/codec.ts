// The SSM Session Manager data-channel wire format (ClientMessage / AgentMessage) and the JSON
// payloads carried inside it, as pure functions over Buffers: no sockets, no timers, no state.
// Both the client channel (src/ssm/channel.ts) and the sandbox's emulated agent use it, so the
// layout lives in exactly one place. Section numbers (§) refer to the protocol reference
// ssm-data-channel.md, gathered from aws/session-manager-plugin and aws/amazon-ssm-agent.

import { createHash, randomUUID } from 'node:crypto';

/** Offset of the PayloadLength field; every real frame carries it as HeaderLength. */
export const HEADER_LENGTH = 116;
/** HeaderLength + PayloadLength: the smallest valid frame. */
export const MIN_FRAME_LENGTH = HEADER_LENGTH + 4;
/** Both the plugin and the agent cut stream data at this many bytes per message. */
export const STREAM_PAYLOAD_LIMIT = 1024;

const MESSAGE_TYPE_OFFSET = 4;
const MESSAGE_TYPE_LENGTH = 32;
const SCHEMA_VERSION_OFFSET = 36;
const CREATED_DATE_OFFSET = 40;
const SEQUENCE_NUMBER_OFFSET = 48;
const FLAGS_OFFSET = 56;
const MESSAGE_ID_OFFSET = 64;
const PAYLOAD_DIGEST_OFFSET = 80;
const PAYLOAD_DIGEST_LENGTH = 32;
const PAYLOAD_TYPE_OFFSET = 112;
const PAYLOAD_LENGTH_OFFSET = 116;

export const MessageType = {
  inputStreamData: 'input_stream_data',
  outputStreamData: 'output_stream_data',
  acknowledge: 'acknowledge',
  channelClosed: 'channel_closed',
  startPublication: 'start_publication',
  pausePublication: 'pause_publication',
  agentSessionState: 'agent_session_state',
} as const;

export const PayloadType = {
  /** No payload type: acknowledge and channel_closed frames. */
  none: 0,
  output: 1,
  error: 2,
  size: 3,
  parameter: 4,
  handshakeRequest: 5,
  handshakeResponse: 6,
  handshakeComplete: 7,
  encChallengeRequest: 8,
  encChallengeResponse: 9,
  flag: 10,
  stdErr: 11,
  exitCode: 12,
} as const;

export const Flag = {
  disconnectToPort: 1,
  terminateSession: 2,
  connectToPortError: 3,
} as const;

/** Frame-level Flags: the agent marks its first stream message SYN; acks carry SYN|FIN. */
export const FrameFlags = {
  none: 0,
  syn: 1,
  ack: 3,
} as const;

export const SCHEMA_VERSION = 1;
export const MESSAGE_SCHEMA_VERSION = '1.0';
/** The plugin version we claim; ≥ 1.2.332.0 so the agent picks smux without keepalive (§7.1). */
export const CLIENT_VERSION = '1.2.677.0';

export interface Frame {
  messageType: string;
  schemaVersion: number;
  /** Milliseconds since the Unix epoch; never 0 in a valid frame. */
  createdDate: number;
  sequenceNumber: number;
  flags: number;
  /** Canonical lower-case UUID string. */
  messageId: string;
  payloadType: number;
  payload: Buffer;
}

export type FrameInput = Pick<Frame, 'messageType' | 'sequenceNumber' | 'payloadType'> &
  Partial<Omit<Frame, 'messageType' | 'sequenceNumber' | 'payloadType' | 'payload'>> & {
    payload?: Uint8Array;
  };

export type FrameErrorReason =
  | 'short-frame'
  | 'bad-header-length'
  | 'missing-message-type'
  | 'zero-created-date'
  | 'bad-digest'
  | 'bad-sequence-number'
  | 'bad-schema-version'
  | 'bad-payload-length';

/** A frame that must be dropped. Receivers log it and rely on the sender's retransmission. */
export class FrameError extends Error {
  readonly reason: FrameErrorReason;

  constructor(reason: FrameErrorReason, message: string) {
    super(message);
    this.name = 'FrameError';
    this.reason = reason;
  }
}

export interface DecodeOptions {
  /** Check the SHA-256 digest when the frame has a payload (the plugin does; default true). */
  verifyDigest?: boolean;
  /**
   * Also insist on what a correct peer always sends: HeaderLength exactly 116, schema version 1,
   * PayloadLength equal to the bytes present. The emulated agent decodes strictly so client bugs
   * surface in tests; the client stays as lenient as the plugin.
   */
  strict?: boolean;
}

/** UUID text → the 16 wire bytes, with the two 64-bit halves swapped as the Go writer does. */
export function uuidToWire(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a UUID: ${uuid}`);
  const bytes = Buffer.from(hex, 'hex');
  return Buffer.concat([bytes.subarray(8, 16), bytes.subarray(0, 8)]);
}

/** The 16 wire bytes → canonical UUID text (undoing the half swap). */
export function wireToUuid(wire: Uint8Array): string {
  const b = Buffer.from(wire.buffer, wire.byteOffset, wire.byteLength);
  const hex = Buffer.concat([b.subarray(8, 16), b.subarray(0, 8)]).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

export function encodeFrame(input: FrameInput): Buffer {
  const payload = input.payload ? Buffer.from(input.payload) : Buffer.alloc(0);
  const frame = Buffer.alloc(MIN_FRAME_LENGTH + payload.length);
  frame.writeUInt32BE(HEADER_LENGTH, 0);
  // The Go writer pads with spaces; readers trim both spaces and NULs.
  frame.fill(0x20, MESSAGE_TYPE_OFFSET, MESSAGE_TYPE_OFFSET + MESSAGE_TYPE_LENGTH);
  const typeBytes = Buffer.from(input.messageType, 'ascii');
  if (typeBytes.length > MESSAGE_TYPE_LENGTH)
    throw new RangeError(`message type too long: ${input.messageType}`);
  typeBytes.copy(frame, MESSAGE_TYPE_OFFSET);
  frame.writeUInt32BE(input.schemaVersion ?? SCHEMA_VERSION, SCHEMA_VERSION_OFFSET);
  frame.writeBigUInt64BE(BigInt(input.createdDate ?? Date.now()), CREATED_DATE_OFFSET);
  frame.writeBigInt64BE(BigInt(input.sequenceNumber), SEQUENCE_NUMBER_OFFSET);
  frame.writeBigUInt64BE(BigInt(input.flags ?? FrameFlags.none), FLAGS_OFFSET);
  uuidToWire(input.messageId ?? randomUUID()).copy(frame, MESSAGE_ID_OFFSET);
  sha256(payload).copy(frame, PAYLOAD_DIGEST_OFFSET);
  frame.writeUInt32BE(input.payloadType, PAYLOAD_TYPE_OFFSET);
  frame.writeUInt32BE(payload.length, PAYLOAD_LENGTH_OFFSET);
  payload.copy(frame, MIN_FRAME_LENGTH);
  return frame;
}

function readMessageType(frame: Buffer): string {
  const raw = frame.subarray(MESSAGE_TYPE_OFFSET, MESSAGE_TYPE_OFFSET + MESSAGE_TYPE_LENGTH);
  // Go: bytes.Trim(…, "\x00") then strings.TrimSpace — NUL padding (the JS library) is accepted.
  return raw
    .toString('latin1')
    .replace(/^\0+|\0+$/g, '')
    .trim();
}

/** Parses and validates one frame; throws FrameError for anything a receiver must drop. */
export function decodeFrame(data: Uint8Array, options: DecodeOptions = {}): Frame {
  const frame = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (frame.length < MIN_FRAME_LENGTH) {
    throw new FrameError('short-frame', `frame of ${frame.length} bytes is shorter than ${MIN_FRAME_LENGTH}`);
  }
  const headerLength = frame.readUInt32BE(0);
  const strict = options.strict === true;
  if (
    strict ? headerLength !== HEADER_LENGTH : headerLength < HEADER_LENGTH || headerLength + 4 > frame.length
  ) {
    throw new FrameError('bad-header-length', `invalid HeaderLength ${headerLength}`);
  }
  const messageType = readMessageType(frame);
  const sequence = frame.readBigInt64BE(SEQUENCE_NUMBER_OFFSET);
  const parsed: Frame = {
    messageType,
    schemaVersion: frame.readUInt32BE(SCHEMA_VERSION_OFFSET),
    createdDate: Number(frame.readBigUInt64BE(CREATED_DATE_OFFSET)),
    sequenceNumber: Number(sequence),
    flags: Number(frame.readBigUInt64BE(FLAGS_OFFSET)),
    messageId: wireToUuid(frame.subarray(MESSAGE_ID_OFFSET, MESSAGE_ID_OFFSET + 16)),
    payloadType: frame.readUInt32BE(PAYLOAD_TYPE_OFFSET),
    // Receivers take the rest of the frame, not PayloadLength bytes (§2).
    payload: frame.subarray(headerLength + 4),
  };
  // The plugin accepts publication notices without any further check.
  if (messageType === MessageType.startPublication || messageType === MessageType.pausePublication) {
    return parsed;
  }
  if (messageType === '') throw new FrameError('missing-message-type', 'MessageType is missing');
  if (parsed.createdDate === 0) throw new FrameError('zero-created-date', 'CreatedDate is missing');
  if (sequence < 0n || sequence > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FrameError('bad-sequence-number', `SequenceNumber ${sequence} is out of range`);
  }
  const payloadLength = frame.readUInt32BE(PAYLOAD_LENGTH_OFFSET);
  if (strict && parsed.schemaVersion !== SCHEMA_VERSION) {
    throw new FrameError('bad-schema-version', `SchemaVersion ${parsed.schemaVersion} is not 1`);
  }
  if (strict && payloadLength !== parsed.payload.length) {
    throw new FrameError(
      'bad-payload-length',
      `PayloadLength ${payloadLength} but ${parsed.payload.length} payload bytes`,
    );
  }
  // The plugin checks the digest only when PayloadLength ≠ 0; strict mode checks any payload.
  const hasPayload = strict ? payloadLength !== 0 || parsed.payload.length !== 0 : payloadLength !== 0;
  if ((options.verifyDigest ?? true) && hasPayload) {
    const digest = frame.subarray(PAYLOAD_DIGEST_OFFSET, PAYLOAD_DIGEST_OFFSET + PAYLOAD_DIGEST_LENGTH);
    if (!sha256(parsed.payload).equals(digest))
      throw new FrameError('bad-digest', 'payload digest does not match');
  }
  return parsed;
}

/** True for the two sequenced message types; everything else carries seq 0 and is never acked. */
export function isStreamMessage(messageType: string): boolean {
  return messageType === MessageType.inputStreamData || messageType === MessageType.outputStreamData;
}

// ── JSON payloads ───────────────────────────────────────────────────────────────────────────────

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function parseJsonObject(payload: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new TypeError(`${what} payload is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${what} payload is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

export interface Acknowledgement {
  messageType: string;
  messageId: string;
  sequenceNumber: number;
}

/** The acknowledge frame for a received stream message: seq 0, flags 3, PayloadType 0. */
export function encodeAcknowledge(
  acked: Pick<Frame, 'messageType' | 'messageId' | 'sequenceNumber'>,
): Buffer {
  // Field order follows the Go struct so captures compare byte for byte.
  const payload = json({
    AcknowledgedMessageType: acked.messageType,
    AcknowledgedMessageId: acked.messageId,
    AcknowledgedMessageSequenceNumber: acked.sequenceNumber,
    IsSequentialMessage: true,
  });
  return encodeFrame({
    messageType: MessageType.acknowledge,
    sequenceNumber: 0,
    flags: FrameFlags.ack,
    payloadType: PayloadType.none,
    payload,
  });
}

/** Only the sequence number matters to either side (§4); type and id are informational. */
export function parseAcknowledge(payload: Uint8Array): Acknowledgement {
  const body = parseJsonObject(payload, 'acknowledge');
  const sequenceNumber = body.AcknowledgedMessageSequenceNumber;
  if (typeof sequenceNumber !== 'number' || !Number.isSafeInteger(sequenceNumber)) {
    throw new TypeError('acknowledge payload has no AcknowledgedMessageSequenceNumber');
  }
  return {
    messageType: typeof body.AcknowledgedMessageType === 'string' ? body.AcknowledgedMessageType : '',
    messageId: typeof body.AcknowledgedMessageId === 'string' ? body.AcknowledgedMessageId : '',
    sequenceNumber,
  };
}

export interface ChannelClosedInfo {
  messageId: string;
  createdDate: string;
  destinationId: string;
  sessionId: string;
  schemaVersion: number;
  /** Empty for a normal end; otherwise the service's error text. */
  output: string;
}

export function encodeChannelClosedPayload(info: Partial<ChannelClosedInfo> & { sessionId: string }): Buffer {
  return json({
    MessageId: info.messageId ?? randomUUID(),
    CreatedDate: info.createdDate ?? new Date().toISOString(),
    DestinationId: info.destinationId ?? '',
    SessionId: info.sessionId,
    MessageType: MessageType.channelClosed,
    SchemaVersion: info.schemaVersion ?? SCHEMA_VERSION,
    Output: info.output ?? '',
  });
}

/** Lenient: a channel_closed whose payload cannot be read still ends the session. */
export function parseChannelClosed(payload: Uint8Array): ChannelClosedInfo {
  let body: Record<string, unknown> = {};
  try {
    body = parseJsonObject(payload, 'channel_closed');
  } catch {
    // Keep the defaults below.
  }
  const text = (key: string) => (typeof body[key] === 'string' ? (body[key] as string) : '');
  return {
    messageId: text('MessageId'),
    createdDate: text('CreatedDate'),
    destinationId: text('DestinationId'),
    sessionId: text('SessionId'),
    schemaVersion: typeof body.SchemaVersion === 'number' ? body.SchemaVersion : SCHEMA_VERSION,
    output: text('Output'),
  };
}

export interface TerminalSize {
  cols: number;
  rows: number;
}

export function encodeSize(size: TerminalSize): Buffer {
  for (const value of [size.cols, size.rows]) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff)
      throw new RangeError(`bad size ${value}`);
  }
  return json({ cols: size.cols, rows: size.rows });
}

export function parseSize(payload: Uint8Array): TerminalSize {
  const body = parseJsonObject(payload, 'size');
  const { cols, rows } = body;
  if (
    typeof cols !== 'number' ||
    typeof rows !== 'number' ||
    !Number.isInteger(cols) ||
    !Number.isInteger(rows)
  ) {
    throw new TypeError('size payload needs integer cols and rows');
  }
  return { cols, rows };
}

export function encodeFlag(flag: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(flag, 0);
  return payload;
}

export function parseFlag(payload: Uint8Array): number {
  if (payload.length !== 4) throw new TypeError(`flag payload must be 4 bytes, got ${payload.length}`);
  return Buffer.from(payload).readUInt32BE(0);
}

/** ExitCode payloads read "EXIT_CODE: <n>" (NonInteractiveCommands with separate streams only). */
export function parseExitCode(payload: Uint8Array): number | undefined {
  const match = /^EXIT_CODE:\s*(-?\d+)\s*$/.exec(Buffer.from(payload).toString('utf8'));
  return match ? Number(match[1]) : undefined;
}

export function encodeExitCode(code: number): Buffer {
  return Buffer.from(`EXIT_CODE: ${code}`, 'utf8');
}

// ── Opening message (the one text frame a client sends after connecting) ─────────────────────

export interface OpeningMessage {
  messageSchemaVersion: string;
  requestId: string;
  tokenValue: string;
  clientId?: string;
  clientVersion?: string;
}

export function encodeOpeningMessage(input: {
  tokenValue: string;
  clientId: string;
  clientVersion?: string;
  requestId?: string;
}): string {
  return JSON.stringify({
    MessageSchemaVersion: MESSAGE_SCHEMA_VERSION,
    RequestId: input.requestId ?? randomUUID(),
    TokenValue: input.tokenValue,
    ClientId: input.clientId,
    ClientVersion: input.clientVersion ?? CLIENT_VERSION,
  });
}

export function parseOpeningMessage(text: string): OpeningMessage {
  const body = parseJsonObject(Buffer.from(text, 'utf8'), 'opening message');
  const str = (key: string) => (typeof body[key] === 'string' ? (body[key] as string) : undefined);
  const tokenValue = str('TokenValue');
  if (tokenValue === undefined) throw new TypeError('opening message has no TokenValue');
  return {
    messageSchemaVersion: str('MessageSchemaVersion') ?? '',
    requestId: str('RequestId') ?? '',
    tokenValue,
    clientId: str('ClientId'),
    clientVersion: str('ClientVersion'),
  };
}

// ── Handshake payloads (§5) ───────────────────────────────────────────────────────────────────

export const ActionType = {
  sessionType: 'SessionType',
  kmsEncryption: 'KMSEncryption',
} as const;

export const ActionStatus = {
  success: 1,
  failed: 2,
  unsupported: 3,
} as const;

export const SessionTypeName = {
  standardStream: 'Standard_Stream',
  interactiveCommands: 'InteractiveCommands',
  nonInteractiveCommands: 'NonInteractiveCommands',
  port: 'Port',
} as const;

export interface SessionTypeRequest {
  SessionType: string;
  Properties: unknown;
}

export interface KmsEncryptionRequest {
  KMSKeyId: string;
  /** base64 of 16 random bytes; newer agents only. */
  Challenge?: string;
}

export interface RequestedClientAction {
  ActionType: string;
  ActionParameters: unknown;
}

export interface HandshakeRequest {
  AgentVersion: string;
  RequestedClientActions: RequestedClientAction[];
}

export interface KmsEncryptionResponse {
  /** base64 of the KMS CiphertextBlob. */
  KMSCipherTextKey: string;
  KMSCipherTextHash: string | null;
  ChallengeAcknowledgement?: boolean;
}

export interface ProcessedClientAction {
  ActionType: string;
  ActionStatus: number;
  ActionResult: unknown;
  Error: string;
}

export interface HandshakeResponse {
  ClientVersion: string;
  ProcessedClientActions: ProcessedClientAction[];
  Errors: string[] | null;
}

export interface HandshakeComplete {
  /** A Go time.Duration: nanoseconds. */
  HandshakeTimeToComplete: number;
  CustomerMessage: string;
}

export interface EncryptionChallenge {
  /** base64 of nonce ‖ AES-GCM ciphertext. */
  Challenge: string;
}

export function encodeJsonPayload(value: unknown): Buffer {
  return json(value);
}

export function parseHandshakeRequest(payload: Uint8Array): HandshakeRequest {
  const body = parseJsonObject(payload, 'HandshakeRequest');
  const actions = Array.isArray(body.RequestedClientActions) ? body.RequestedClientActions : [];
  return {
    AgentVersion: typeof body.AgentVersion === 'string' ? body.AgentVersion : '',
    RequestedClientActions: actions
      .filter((a): a is Record<string, unknown> => a !== null && typeof a === 'object')
      .map((a) => ({ ActionType: String(a.ActionType ?? ''), ActionParameters: a.ActionParameters ?? null })),
  };
}

export function parseHandshakeResponse(payload: Uint8Array): HandshakeResponse {
  const body = parseJsonObject(payload, 'HandshakeResponse');
  const actions = Array.isArray(body.ProcessedClientActions) ? body.ProcessedClientActions : [];
  return {
    ClientVersion: typeof body.ClientVersion === 'string' ? body.ClientVersion : '',
    ProcessedClientActions: actions
      .filter((a): a is Record<string, unknown> => a !== null && typeof a === 'object')
      .map((a) => ({
        ActionType: String(a.ActionType ?? ''),
        ActionStatus: typeof a.ActionStatus === 'number' ? a.ActionStatus : 0,
        ActionResult: a.ActionResult ?? null,
        Error: typeof a.Error === 'string' ? a.Error : '',
      })),
    Errors: Array.isArray(body.Errors) ? body.Errors.map(String) : null,
  };
}

export function parseHandshakeComplete(payload: Uint8Array): HandshakeComplete {
  const body = parseJsonObject(payload, 'HandshakeComplete');
  return {
    HandshakeTimeToComplete:
      typeof body.HandshakeTimeToComplete === 'number' ? body.HandshakeTimeToComplete : 0,
    CustomerMessage: typeof body.CustomerMessage === 'string' ? body.CustomerMessage : '',
  };
}

export function parseEncryptionChallenge(payload: Uint8Array): Buffer {
  const body = parseJsonObject(payload, 'encryption challenge');
  if (typeof body.Challenge !== 'string') throw new TypeError('encryption challenge has no Challenge');
  return Buffer.from(body.Challenge, 'base64');
}

export function encodeEncryptionChallenge(challenge: Uint8Array): Buffer {
  return json({ Challenge: Buffer.from(challenge).toString('base64') } satisfies EncryptionChallenge);
}
