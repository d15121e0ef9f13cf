import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeAcknowledge,
  encodeChannelClosedPayload,
  encodeEncryptionChallenge,
  encodeExitCode,
  encodeFlag,
  encodeFrame,
  encodeOpeningMessage,
  encodeSize,
  FrameError,
  FrameFlags,
  HEADER_LENGTH,
  MessageType,
  PayloadType,
  parseAcknowledge,
  parseChannelClosed,
  parseEncryptionChallenge,
  parseExitCode,
  parseFlag,
  parseHandshakeComplete,
  parseHandshakeRequest,
  parseHandshakeResponse,
  parseOpeningMessage,
  parseSize,
  uuidToWire,
  wireToUuid,
} from '../../src/ssm/codec.js';

// The reference's test vector, produced by session-manager-plugin's own serializer.
const VECTOR_HEX = [
  '00000074696e7075745f73747265616d',
  '5f646174612020202020202020202020',
  '20202020000000010000018bcfe56800',
  '00000000000000010000000000000000',
  '8899aabbccddeeff0011223344556677',
  '1d887ce0f8672e4914d9000e801cd74e',
  'cd805dd9366c0bc42dc16adc0197dc2f',
  '00000001000000036c730d',
].join('');

const vectorFrame = () =>
  encodeFrame({
    messageType: MessageType.inputStreamData,
    schemaVersion: 1,
    createdDate: 1_700_000_000_000,
    sequenceNumber: 1,
    flags: 0,
    messageId: '00112233-4455-6677-8899-aabbccddeeff',
    payloadType: PayloadType.output,
    payload: Buffer.from('ls\r'),
  });

function reject(frame: Buffer, reason: string, options = {}) {
  let caught: unknown;
  try {
    decodeFrame(frame, options);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FrameError);
  expect((caught as FrameError).reason).toBe(reason);
}

describe('frame codec', () => {
  it('encodes the plugin test vector byte for byte', () => {
    const frame = vectorFrame();
    expect(frame.length).toBe(123);
    expect(frame.toString('hex')).toBe(VECTOR_HEX);
  });

  it('decodes the test vector back to the same fields', () => {
    const frame = decodeFrame(Buffer.from(VECTOR_HEX, 'hex'), { strict: true });
    expect(frame).toEqual({
      messageType: 'input_stream_data',
      schemaVersion: 1,
      createdDate: 1_700_000_000_000,
      sequenceNumber: 1,
      flags: 0,
      messageId: '00112233-4455-6677-8899-aabbccddeeff',
      payloadType: 1,
      payload: Buffer.from('ls\r'),
    });
  });

  it('swaps the UUID halves on the wire and back', () => {
    const id = '01234567-89ab-cdef-0011-223344556677';
    expect(uuidToWire(id).toString('hex')).toBe('0011223344556677' + '0123456789abcdef');
    expect(wireToUuid(uuidToWire(id))).toBe(id);
  });

  it('round-trips every field, including large sequence numbers and empty payloads', () => {
    for (const input of [
      {
        messageType: MessageType.outputStreamData,
        sequenceNumber: 0,
        flags: 1,
        payloadType: 5,
        payload: Buffer.from('{}'),
      },
      {
        messageType: MessageType.acknowledge,
        sequenceNumber: 0,
        flags: 3,
        payloadType: 0,
        payload: Buffer.alloc(0),
      },
      {
        messageType: MessageType.inputStreamData,
        sequenceNumber: 2 ** 40 + 7,
        flags: 0,
        payloadType: 1,
        payload: Buffer.from([0, 255, 1, 254]),
      },
    ]) {
      const decoded = decodeFrame(encodeFrame(input), { strict: true });
      expect(decoded).toMatchObject(input);
      expect(decoded.createdDate).toBeGreaterThan(0);
    }
  });

  it('accepts a message type padded with NULs (the JS library) and trims spaces', () => {
    const frame = vectorFrame();
    frame.fill(0, 4, 36);
    Buffer.from('input_stream_data').copy(frame, 4);
    expect(decodeFrame(frame).messageType).toBe('input_stream_data');
  });

  it('takes the payload as the rest of the frame, not PayloadLength bytes (lenient mode)', () => {
    const frame = vectorFrame();
    frame.writeUInt32BE(0, 116);
    // PayloadLength 0 means the plugin does not check the digest either.
    expect(decodeFrame(frame).payload.toString()).toBe('ls\r');
    reject(frame, 'bad-payload-length', { strict: true });
  });

  it('rejects a wrong digest', () => {
    const frame = vectorFrame();
    frame[80] = (frame[80] ?? 0) ^ 1;
    reject(frame, 'bad-digest');
    reject(frame, 'bad-digest', { strict: true });
    expect(decodeFrame(frame, { verifyDigest: false }).payload.toString()).toBe('ls\r');
  });

  it('rejects a corrupted payload', () => {
    const frame = vectorFrame();
    frame[120] = 0x4c;
    reject(frame, 'bad-digest');
  });

  it('rejects short frames', () => {
    reject(Buffer.alloc(0), 'short-frame');
    reject(vectorFrame().subarray(0, 119), 'short-frame');
  });

  it('rejects a bad HeaderLength', () => {
    const zero = vectorFrame();
    zero.writeUInt32BE(0, 0);
    reject(zero, 'bad-header-length');
    const beyond = vectorFrame();
    beyond.writeUInt32BE(500, 0);
    reject(beyond, 'bad-header-length');
    const longer = vectorFrame();
    longer.writeUInt32BE(HEADER_LENGTH + 1, 0);
    reject(longer, 'bad-header-length', { strict: true });
  });

  it('rejects a zero CreatedDate and a missing message type', () => {
    const undated = vectorFrame();
    undated.writeBigUInt64BE(0n, 40);
    reject(undated, 'zero-created-date');
    const untyped = vectorFrame();
    untyped.fill(0x20, 4, 36);
    reject(untyped, 'missing-message-type');
  });

  it('rejects negative sequence numbers and, in strict mode, another schema version', () => {
    const negative = vectorFrame();
    negative.writeBigInt64BE(-1n, 48);
    reject(negative, 'bad-sequence-number');
    const schema = vectorFrame();
    schema.writeUInt32BE(2, 36);
    reject(schema, 'bad-schema-version', { strict: true });
    expect(decodeFrame(schema).schemaVersion).toBe(2);
  });

  it('accepts publication notices without any check, as the plugin does', () => {
    const frame = encodeFrame({
      messageType: MessageType.pausePublication,
      sequenceNumber: 0,
      payloadType: 0,
    });
    frame.writeBigUInt64BE(0n, 40);
    expect(decodeFrame(frame).messageType).toBe('pause_publication');
  });
});

describe('payloads', () => {
  it('builds an acknowledge frame with seq 0, flags 3 and the Go field order', () => {
    const acked = decodeFrame(vectorFrame());
    const ack = decodeFrame(encodeAcknowledge(acked), { strict: true });
    expect(ack).toMatchObject({
      messageType: 'acknowledge',
      sequenceNumber: 0,
      flags: FrameFlags.ack,
      payloadType: 0,
    });
    expect(ack.messageId).not.toBe(acked.messageId);
    expect(ack.payload.toString()).toBe(
      '{"AcknowledgedMessageType":"input_stream_data",' +
        '"AcknowledgedMessageId":"00112233-4455-6677-8899-aabbccddeeff",' +
        '"AcknowledgedMessageSequenceNumber":1,"IsSequentialMessage":true}',
    );
    expect(parseAcknowledge(ack.payload)).toEqual({
      messageType: 'input_stream_data',
      messageId: '00112233-4455-6677-8899-aabbccddeeff',
      sequenceNumber: 1,
    });
    expect(() => parseAcknowledge(Buffer.from('{}'))).toThrow();
    expect(() => parseAcknowledge(Buffer.from('nope'))).toThrow();
  });

  it('parses channel_closed, leniently', () => {
    const payload = encodeChannelClosedPayload({ sessionId: 's-1', output: 'boom' });
    expect(JSON.parse(payload.toString())).toMatchObject({ MessageType: 'channel_closed', SchemaVersion: 1 });
    expect(parseChannelClosed(payload)).toMatchObject({ sessionId: 's-1', output: 'boom' });
    expect(parseChannelClosed(Buffer.from('garbage')).output).toBe('');
  });

  it('encodes Size, Flag and ExitCode payloads', () => {
    expect(encodeSize({ cols: 300, rows: 100 }).toString()).toBe('{"cols":300,"rows":100}');
    expect(parseSize(Buffer.from('{"cols":80,"rows":24}'))).toEqual({ cols: 80, rows: 24 });
    expect(() => parseSize(Buffer.from('{"cols":"80"}'))).toThrow();
    expect(() => encodeSize({ cols: -1, rows: 1 })).toThrow();
    expect(encodeFlag(2).toString('hex')).toBe('00000002');
    expect(parseFlag(Buffer.from('00000003', 'hex'))).toBe(3);
    expect(() => parseFlag(Buffer.from('03', 'hex'))).toThrow();
    expect(parseExitCode(encodeExitCode(7))).toBe(7);
    expect(parseExitCode(Buffer.from('nonsense'))).toBeUndefined();
  });

  it('builds the opening message with the plugin field order and parses it back', () => {
    const text = encodeOpeningMessage({ tokenValue: 'TOK', clientId: 'cid', requestId: 'rid' });
    expect(text).toBe(
      '{"MessageSchemaVersion":"1.0","RequestId":"rid","TokenValue":"TOK",' +
        '"ClientId":"cid","ClientVersion":"1.2.677.0"}',
    );
    expect(parseOpeningMessage(text)).toMatchObject({ tokenValue: 'TOK', clientVersion: '1.2.677.0' });
    expect(() => parseOpeningMessage('{"RequestId":"x"}')).toThrow();
  });

  it('parses handshake payloads as captured from the plugin and agent', () => {
    const request = parseHandshakeRequest(
      Buffer.from(
        '{"AgentVersion":"3.3.987.0","RequestedClientActions":[{"ActionType":"SessionType",' +
          '"ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"5432"}}}]}',
      ),
    );
    expect(request.AgentVersion).toBe('3.3.987.0');
    expect(request.RequestedClientActions[0]?.ActionParameters).toEqual({
      SessionType: 'Port',
      Properties: { portNumber: '5432' },
    });
    const response = parseHandshakeResponse(
      Buffer.from(
        '{"ClientVersion":"1.2.677.0","ProcessedClientActions":[' +
          '{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null}',
      ),
    );
    expect(response.ProcessedClientActions[0]?.ActionStatus).toBe(1);
    expect(
      parseHandshakeComplete(Buffer.from('{"HandshakeTimeToComplete":536547,"CustomerMessage":"hi"}')),
    ).toEqual({
      HandshakeTimeToComplete: 536547,
      CustomerMessage: 'hi',
    });
    const challenge = Buffer.from([1, 2, 3]);
    expect(parseEncryptionChallenge(encodeEncryptionChallenge(challenge))).toEqual(challenge);
  });
});
