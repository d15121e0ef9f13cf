// One emulated SSM session on the agent side, playing both the agent and the MGS relay in front of
// it. It outlives WebSocket connections (a dropped socket is resumed with a new token), numbers and
// retransmits its output, acknowledges input (duplicates too, like the real agent), runs the
// handshake with optional KMS encryption, and runs an ECS Exec command in a pty.
//
// Faithful to the agent where the real one is lenient or quirky (Flags=1 on seq 0, process-then-ack,
// input dropped during the handshake, a 2 s drain before channel_closed, no exit status), strict
// where a real client would break AWS (token, digest, frame layout, plaintext input in a KMS
// session, which stalls the receive sequence exactly as on AWS). Port-forwarding sessions always
// handshake (SessionType Port) and then run the Port plugin (port-plugin.ts). Two simplifications: on reconnect
// everything unacknowledged is resent at once (the agent trickles it through its front-only
// scheduler, which is slower but looks the same to a client), and a client disconnect is treated as
// MGS's pause_publication, holding output until the client is back.

import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import {
  ActionStatus,
  ActionType,
  decodeFrame,
  encodeAcknowledge,
  encodeChannelClosedPayload,
  encodeEncryptionChallenge,
  encodeFlag,
  encodeFrame,
  encodeJsonPayload,
  type Frame,
  FrameError,
  FrameFlags,
  type HandshakeComplete,
  type HandshakeRequest,
  MessageType,
  PayloadType,
  parseAcknowledge,
  parseEncryptionChallenge,
  parseFlag,
  parseHandshakeResponse,
  parseOpeningMessage,
  parseSize,
  SessionTypeName,
  type TerminalSize,
} from '../../src/ssm/codec.js';
import { SessionCipher } from '../../src/ssm/crypto.js';
import { RETRANSMISSION } from '../../src/ssm/rto.js';
import { OutgoingBuffer, type OutgoingMessage } from '../../src/ssm/sequencing.js';
import type { SessionRequest } from '../session-broker.js';
import { type ContainerEnvironment, pluginFailureOutput, resolveCommand } from './command.js';
import type { SessionFaults } from './faults.js';
import type { PortDestination } from './port-destination.js';
import { PortPlugin, portProperties } from './port-plugin.js';
import { type Pacing, PtyProcess } from './pty-process.js';

/** The emulated KMS: decrypts the client's data key under the agent's encryption context. */
export type DecryptDataKey = (
  ciphertextBlob: Buffer,
  encryptionContext: Record<string, string>,
  keyId: string,
) => Promise<Uint8Array> | Uint8Array;

export interface AgentSessionSettings {
  sessionId: string;
  request: SessionRequest;
  /** `ecs:<cluster>_<taskId>_<runtimeId>`; the agent's identity in the KMS context. */
  targetId: string;
  container: ContainerEnvironment;
  agentVersion: string;
  pacing: Pacing;
  execHandshake: 'none' | 'session-type';
  decryptDataKey: DecryptDataKey | undefined;
  handshakeTimeoutMs: number;
  drainTimeoutMs: number;
  resumeWindowMs: number;
  connectTimeoutMs: number;
  faults: SessionFaults;
  /** Where port sessions connect (the world's database endpoint → the sandbox database). */
  portDestination: PortDestination;
  log: (line: string) => void;
}

export interface AgentSessionStats {
  connections: number;
  tokenRejections: number;
  /** Stream messages sent for the first time, and how many of them were Output. */
  messagesSent: number;
  outputMessagesSent: number;
  messagesResent: number;
  acksSent: number;
  acksReceived: number;
  /** Client stream messages processed in order. */
  inputProcessed: number;
  duplicatesReceived: number;
  outOfOrderReceived: number;
  framesRejected: number;
  /** Processed but discarded: input that arrived during the handshake. */
  inputDiscarded: number;
  /** Left unacknowledged: not ready, undecryptable or malformed. */
  inputRefused: number;
  flagsReceived: number[];
  lastSize: TerminalSize | undefined;
  clientVersion: string | undefined;
  /** channel_closed Output once the session has ended. */
  closedWith: string | undefined;
}

type SessionState = 'waiting' | 'running' | 'ending' | 'ended';
type HandshakePhase = 'none' | 'awaiting-response' | 'awaiting-challenge' | 'complete' | 'skipped';
type Processed = 'ok' | 'not-ready' | 'error';

const INCOMING_CAPACITY = 100_000;
const OUTGOING_SOFT_LIMIT = 4096;
const SOCKET_BUFFER_LIMIT = 1024 * 1024;
const OPENING_MESSAGE_TIMEOUT_MS = 10_000;
const REORDER_FLUSH_MS = 50;
const KMS_CUSTOMER_MESSAGE = 'This session is encrypted using AWS KMS.';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class AgentSession {
  readonly id: string;
  readonly stats: AgentSessionStats = {
    connections: 0,
    tokenRejections: 0,
    messagesSent: 0,
    outputMessagesSent: 0,
    messagesResent: 0,
    acksSent: 0,
    acksReceived: 0,
    inputProcessed: 0,
    duplicatesReceived: 0,
    outOfOrderReceived: 0,
    framesRejected: 0,
    inputDiscarded: 0,
    inputRefused: 0,
    flagsReceived: [],
    lastSize: undefined,
    clientVersion: undefined,
    closedWith: undefined,
  };

  readonly #settings: AgentSessionSettings;
  readonly #log: (line: string) => void;
  #token: string;
  #state: SessionState = 'waiting';
  #socket: WebSocket | undefined;
  #clientId = '';
  #paused = false;
  #outputsOnSocket = 0;
  #outputsTotal = 0;

  #expected = 0;
  readonly #pendingIn = new Map<number, Frame>();
  readonly #outgoing = new OutgoingBuffer();
  #nextSequence = 0;
  #inbox: Promise<void> = Promise.resolve();

  #handshake: HandshakePhase = 'none';
  #handshakeStartedAt = 0n;
  #encryptionEnabled = false;
  #cipher: SessionCipher | undefined;
  #challenge: Buffer | undefined;
  readonly #randomChallenge = randomBytes(16).toString('base64');

  #pty: PtyProcess | undefined;
  #port: PortPlugin | undefined;
  #reorderHeld: OutgoingMessage | undefined;
  #finalFrame: Buffer | undefined;
  #finalDelivered = false;

  #retransmitTimer: NodeJS.Timeout | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #abandonTimer: NodeJS.Timeout | undefined;
  readonly #otherTimers = new Set<NodeJS.Timeout>();

  constructor(settings: AgentSessionSettings) {
    this.#settings = settings;
    this.id = settings.sessionId;
    this.#log = (line) => settings.log(`[${settings.sessionId}] ${line}`);
    this.#token = newToken();
    // A session nobody connects to goes away, as an unused ECS Exec session does.
    this.#abandonTimer = setTimeout(() => this.#abandon('no client connected'), settings.connectTimeoutMs);
  }

  get token(): string {
    return this.#token;
  }

  /** Live, or ended with a channel_closed a reconnecting client has not received yet. */
  get resumable(): boolean {
    return this.#state !== 'ended' || (this.#finalFrame !== undefined && !this.#finalDelivered);
  }

  get ended(): boolean {
    return this.#state === 'ended';
  }

  /** ssm:ResumeSession: a new token; the old one stops working. */
  reissueToken(): string {
    this.#token = newToken();
    return this.#token;
  }

  // ── connections ────────────────────────────────────────────────────────────────────────────

  /** A WebSocket for this session's stream URL; it must open with a valid token. */
  attach(ws: WebSocket): void {
    this.stats.connections += 1;
    ws.on('error', (error) => this.#log(`socket error: ${error.message}`));
    const timer = setTimeout(() => ws.terminate(), OPENING_MESSAGE_TIMEOUT_MS);
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      let token: string | undefined;
      let clientVersion: string | undefined;
      try {
        if (isBinary) throw new Error('binary frame before the opening message');
        const opening = parseOpeningMessage(data.toString('utf8'));
        token = opening.tokenValue;
        clientVersion = opening.clientVersion;
        this.#clientId = opening.clientId ?? '';
      } catch (error) {
        this.#log(`rejected a connection: ${(error as Error).message}`);
      }
      if (token === undefined || token !== this.#token) {
        if (token !== undefined) this.stats.tokenRejections += 1;
        this.#log('rejected a connection: bad token');
        ws.close(1008, 'Invalid token');
        return;
      }
      this.stats.clientVersion = clientVersion;
      this.#accept(ws);
    });
    ws.once('close', () => clearTimeout(timer));
  }

  #accept(ws: WebSocket): void {
    if (this.#state === 'ended') {
      if (this.#finalFrame) ws.send(this.#finalFrame);
      this.#finalDelivered = true;
      ws.close(1000);
      return;
    }
    clearTimeout(this.#abandonTimer);
    const previous = this.#socket;
    this.#socket = ws;
    previous?.terminate();
    this.#outputsOnSocket = 0;
    this.#paused = false;
    ws.on('message', (data: Buffer) => {
      if (ws === this.#socket) this.#onData(data);
    });
    ws.on('close', () => {
      if (ws !== this.#socket) return;
      this.#socket = undefined;
      this.#log('client socket closed; holding output until it resumes');
      this.#abandonTimer = setTimeout(
        () => this.#abandon('client did not resume'),
        this.#settings.resumeWindowMs,
      );
    });

    if (this.#state === 'waiting') {
      this.#state = 'running';
      this.#retransmitTimer = setInterval(() => this.#retransmit(), RETRANSMISSION.checkIntervalMs);
      void this.#begin();
    } else {
      this.#log(`client resumed; resending ${this.#outgoing.size} unacknowledged message(s)`);
      this.#flushReorder();
      for (const message of this.#outgoing.all()) this.#write(message, { resend: message.lastSentAt !== 0 });
    }
  }

  #canSend(): boolean {
    return (
      this.#socket !== undefined && this.#socket.readyState === 1 && !this.#paused && this.#state !== 'ended'
    );
  }

  // ── starting ───────────────────────────────────────────────────────────────────────────────

  async #begin(): Promise<void> {
    const request = this.#settings.request;
    if (this.#checkCloseFault()) return;
    // The Port plugin requires a handshake; port sessions are never encrypted.
    if (request.kind === 'port') {
      this.#startHandshake(undefined);
      return;
    }
    const kmsKeyId = request.kmsKeyId;
    if (this.#settings.execHandshake === 'session-type' || kmsKeyId) this.#startHandshake(kmsKeyId);
    else {
      this.#handshake = 'skipped';
      await this.#startCommand();
    }
  }

  #startHandshake(kmsKeyId: string | undefined): void {
    this.#handshakeStartedAt = process.hrtime.bigint();
    this.#encryptionEnabled = kmsKeyId !== undefined;
    const session = this.#settings.request;
    const request: HandshakeRequest = {
      AgentVersion: this.#settings.agentVersion,
      RequestedClientActions: [
        {
          ActionType: ActionType.sessionType,
          // ECS Exec runs the InteractiveCommands plugin, whose parameters are nil.
          ActionParameters:
            session.kind === 'port'
              ? { SessionType: SessionTypeName.port, Properties: portProperties(session.parameters) }
              : { SessionType: SessionTypeName.interactiveCommands, Properties: null },
        },
      ],
    };
    if (kmsKeyId) {
      request.RequestedClientActions.push({
        ActionType: ActionType.kmsEncryption,
        ActionParameters: { KMSKeyId: kmsKeyId, Challenge: this.#randomChallenge },
      });
    }
    this.#handshake = 'awaiting-response';
    this.#sendStream(PayloadType.handshakeRequest, encodeJsonPayload(request));
    this.#armHandshakeTimer(
      'Handshake timed out. Please ensure that you have the latest version of the session manager plugin.',
    );
  }

  #armHandshakeTimer(message: string): void {
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = setTimeout(() => {
      void this.#finish(pluginFailureOutput(`Encountered error while initiating handshake. ${message}`));
    }, this.#settings.handshakeTimeoutMs);
  }

  #completeHandshake(): void {
    clearTimeout(this.#handshakeTimer);
    this.#handshake = 'complete';
    const complete: HandshakeComplete = {
      HandshakeTimeToComplete: Number(process.hrtime.bigint() - this.#handshakeStartedAt),
      CustomerMessage: this.#encryptionEnabled ? KMS_CUSTOMER_MESSAGE : '',
    };
    this.#sendStream(PayloadType.handshakeComplete, encodeJsonPayload(complete));
    void (this.#settings.request.kind === 'port' ? this.#startPort() : this.#startCommand());
  }

  async #startPort(): Promise<void> {
    const request = this.#settings.request;
    if (request.kind !== 'port' || this.#state !== 'running') return;
    this.#port = new PortPlugin({
      parameters: request.parameters,
      agentVersion: this.#settings.agentVersion,
      clientVersion: this.stats.clientVersion,
      pacing: this.#settings.pacing,
      destination: this.#settings.portDestination,
      sink: {
        send: (payload) => this.#sendOutput(payload),
        ready: () => this.#canTakeOutput(),
        flag: (value) => {
          if (this.#state === 'running') this.#sendStream(PayloadType.flag, encodeFlag(value));
        },
        finish: (output) => void this.#finish(output),
      },
      log: this.#log,
    });
    await this.#port.start();
  }

  async #startCommand(): Promise<void> {
    const request = this.#settings.request;
    if (request.kind !== 'exec' || this.#state !== 'running') return;
    const resolved = resolveCommand(request.command, this.#settings.container);
    if (!resolved.ok) {
      // The agent sleeps 2 s before reporting a command that could not start.
      if (this.#settings.pacing === 'realistic') await sleep(2000);
      await this.#finish(pluginFailureOutput(resolved.failure));
      return;
    }
    try {
      this.#pty = new PtyProcess(
        resolved.command,
        { send: (payload) => this.#sendOutput(payload), ready: () => this.#canTakeOutput() },
        this.#settings.pacing,
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      await this.#finish(pluginFailureOutput(`Unable to start command: Failed to start pty: ${reason}\n\n`));
      return;
    }
    this.#log(`started ${resolved.command.executable}`);
    void this.#pty.done.then(() => this.#finish(''));
  }

  // ── receiving ──────────────────────────────────────────────────────────────────────────────

  #onData(data: Buffer): void {
    let frame: Frame;
    try {
      frame = decodeFrame(data, { strict: true, verifyDigest: true });
    } catch (error) {
      this.stats.framesRejected += 1;
      this.#log(`dropped an invalid frame: ${error instanceof FrameError ? error.reason : String(error)}`);
      return;
    }
    switch (frame.messageType) {
      case MessageType.inputStreamData:
        this.#paused = false;
        this.#inbox = this.#inbox
          .then(() => this.#onStreamMessage(frame))
          .catch((error: unknown) => {
            this.#log(`input handling failed: ${String(error)}`);
          });
        break;
      case MessageType.acknowledge:
        this.#paused = false;
        this.#onAcknowledge(frame);
        break;
      case MessageType.pausePublication:
        this.#paused = true;
        break;
      case MessageType.startPublication:
        this.#paused = false;
        this.#sendUnsent();
        break;
      case MessageType.channelClosed:
        this.terminate();
        break;
      default:
        this.#log(`ignored a ${frame.messageType} message`);
    }
  }

  /** AGENT datachannel.go handleStreamDataMessage: process, then ack; re-ack duplicates. */
  async #onStreamMessage(frame: Frame): Promise<void> {
    const sequence = frame.sequenceNumber;
    if (sequence === this.#expected) {
      if ((await this.#processInput(frame)) !== 'ok') {
        this.stats.inputRefused += 1;
        return;
      }
      this.#acknowledge(frame);
      this.#expected += 1;
      this.stats.inputProcessed += 1;
      for (let next = this.#pendingIn.get(this.#expected); next; next = this.#pendingIn.get(this.#expected)) {
        // The agent stops here on an error, leaving the sequence stuck; so do we.
        if ((await this.#processInput(next)) !== 'ok') {
          this.stats.inputRefused += 1;
          return;
        }
        this.#pendingIn.delete(this.#expected);
        this.#expected += 1;
        this.stats.inputProcessed += 1;
      }
    } else if (sequence > this.#expected) {
      if (this.#pendingIn.size >= INCOMING_CAPACITY) return;
      this.#acknowledge(frame);
      this.#pendingIn.set(sequence, frame);
      this.stats.outOfOrderReceived += 1;
    } else {
      this.stats.duplicatesReceived += 1;
      this.#acknowledge(frame);
    }
  }

  #acknowledge(frame: Frame): void {
    if (this.#settings.faults.withholdAck(Date.now())) return;
    const ack = encodeAcknowledge(frame);
    const copies = this.#settings.faults.duplicateAck() ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      if (this.#socket?.readyState !== 1) return;
      this.#socket.send(ack);
      this.stats.acksSent += 1;
    }
  }

  async #processInput(frame: Frame): Promise<Processed> {
    let payload = frame.payload;
    if (this.#encryptionEnabled && frame.payloadType === PayloadType.output) {
      // Before the key exists this fails, and the agent never acks it: the stall a client must
      // avoid by holding input until HandshakeComplete.
      if (!this.#cipher) return 'error';
      try {
        payload = this.#cipher.decrypt(payload);
      } catch {
        return 'error';
      }
    }
    switch (frame.payloadType) {
      case PayloadType.handshakeResponse:
        return this.#onHandshakeResponse(payload);
      case PayloadType.encChallengeResponse:
        return this.#onChallengeResponse(payload);
      default:
        if (this.#handshake !== 'skipped' && this.#handshake !== 'complete') {
          this.stats.inputDiscarded += 1;
          return 'ok';
        }
        return this.#pluginInput(frame.payloadType, payload);
    }
  }

  /** AGENT shell_unix.go InputStreamMessageHandler (port.go's for port sessions). */
  #pluginInput(payloadType: number, payload: Buffer): Processed | Promise<Processed> {
    if (this.#settings.request.kind === 'port') {
      if (!this.#port) return 'not-ready';
      if (payloadType === PayloadType.flag && payload.length === 4) {
        this.stats.flagsReceived.push(payload.readUInt32BE(0));
      }
      return this.#port.input(payloadType, payload);
    }
    if (!this.#pty) return 'not-ready';
    switch (payloadType) {
      case PayloadType.output:
        this.#pty.write(payload);
        return 'ok';
      case PayloadType.size:
        try {
          const size = parseSize(payload);
          this.stats.lastSize = size;
          this.#pty.resize(size.cols, size.rows);
          return 'ok';
        } catch {
          return 'error';
        }
      case PayloadType.flag:
        // The shell plugin ignores flags; they matter to port sessions only.
        try {
          this.stats.flagsReceived.push(parseFlag(payload));
          return 'ok';
        } catch {
          return 'error';
        }
      default:
        return 'ok';
    }
  }

  async #onHandshakeResponse(payload: Buffer): Promise<Processed> {
    if (this.#handshake !== 'awaiting-response') return 'ok';
    let response: ReturnType<typeof parseHandshakeResponse>;
    try {
      response = parseHandshakeResponse(payload);
    } catch {
      return 'error';
    }
    this.stats.clientVersion = response.ClientVersion || this.stats.clientVersion;
    const errors: string[] = [];
    for (const action of response.ProcessedClientActions) {
      if (action.ActionStatus !== ActionStatus.success) {
        errors.push(
          `${action.ActionType} failed on client with status ${action.ActionStatus} error: ${action.Error}`,
        );
      } else if (action.ActionType === ActionType.kmsEncryption) {
        try {
          await this.#finalizeKms(action.ActionResult);
        } catch (error) {
          errors.push(`Fetching data key failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
    if (errors.length === 0 && this.#encryptionEnabled && !this.#cipher) {
      errors.push('KMSEncryption failed on client: no KMSEncryption action in the handshake response');
    }
    if (errors.length > 0) {
      void this.#finish(pluginFailureOutput(`Encountered error while initiating handshake. ${errors[0]}`));
      return 'ok';
    }
    if (this.#cipher) {
      this.#challenge = randomBytes(64);
      this.#handshake = 'awaiting-challenge';
      this.#sendStream(
        PayloadType.encChallengeRequest,
        encodeEncryptionChallenge(this.#cipher.encrypt(this.#challenge)),
      );
      this.#armHandshakeTimer('Timed out waiting for encryption challenge.');
    } else {
      this.#completeHandshake();
    }
    return 'ok';
  }

  async #finalizeKms(result: unknown): Promise<void> {
    const fields = (result ?? {}) as { KMSCipherTextKey?: unknown; ChallengeAcknowledgement?: unknown };
    if (typeof fields.KMSCipherTextKey !== 'string' || fields.KMSCipherTextKey === '') {
      throw new Error('the client sent no KMSCipherTextKey');
    }
    const decrypt = this.#settings.decryptDataKey;
    if (!decrypt) throw new Error('this sandbox agent has no KMS');
    const request = this.#settings.request;
    const keyId = request.kind === 'exec' ? (request.kmsKeyId ?? '') : '';
    const context: Record<string, string> = {
      'aws:ssm:SessionId': this.id,
      'aws:ssm:TargetId': this.#settings.targetId,
    };
    if (fields.ChallengeAcknowledgement === true) context['aws:ssm:RandomChallenge'] = this.#randomChallenge;
    const plaintext = await decrypt(Buffer.from(fields.KMSCipherTextKey, 'base64'), context, keyId);
    this.#cipher = new SessionCipher(plaintext, 'agent');
  }

  #onChallengeResponse(payload: Buffer): Processed {
    if (this.#handshake !== 'awaiting-challenge' || !this.#cipher || !this.#challenge) return 'ok';
    try {
      const answer = this.#cipher.decrypt(parseEncryptionChallenge(payload));
      // Like the agent, a wrong answer is simply not acked; the handshake then times out.
      if (!answer.equals(this.#challenge)) return 'error';
    } catch {
      return 'error';
    }
    this.#completeHandshake();
    return 'ok';
  }

  #onAcknowledge(frame: Frame): void {
    let sequenceNumber: number;
    try {
      sequenceNumber = parseAcknowledge(frame.payload).sequenceNumber;
    } catch {
      this.stats.framesRejected += 1;
      return;
    }
    this.stats.acksReceived += 1;
    this.#outgoing.acknowledge(sequenceNumber, Date.now());
  }

  // ── sending ────────────────────────────────────────────────────────────────────────────────

  #canTakeOutput(): boolean {
    if (this.#outgoing.size >= OUTGOING_SOFT_LIMIT) return false;
    // gorilla's WriteMessage blocks when the TCP send buffer is full; this is our equivalent.
    return (this.#socket?.bufferedAmount ?? 0) < SOCKET_BUFFER_LIMIT;
  }

  #sendOutput(payload: Buffer): void {
    if (this.#state !== 'running') return;
    this.#sendStream(PayloadType.output, payload);
  }

  /** AGENT SendStreamDataMessage: encrypt when on, SYN flag on seq 0, buffer for retransmission. */
  #sendStream(payloadType: number, payload: Buffer): void {
    if (payload.length === 0) return;
    const encrypted =
      this.#cipher !== undefined &&
      (payloadType === PayloadType.output ||
        payloadType === PayloadType.stdErr ||
        payloadType === PayloadType.exitCode);
    const frame = encodeFrame({
      messageType: MessageType.outputStreamData,
      sequenceNumber: this.#nextSequence,
      flags: this.#nextSequence === 0 ? FrameFlags.syn : FrameFlags.none,
      payloadType,
      payload: encrypted && this.#cipher ? this.#cipher.encrypt(payload) : payload,
    });
    const message = this.#outgoing.add(this.#nextSequence, frame);
    this.#nextSequence += 1;
    if (!this.#canSend()) return;
    if (payloadType === PayloadType.output) this.#firstSendOfOutput(message);
    else this.#write(message, { resend: false });
  }

  #write(message: OutgoingMessage, options: { resend: boolean; frame?: Buffer }): void {
    const socket = this.#socket;
    if (socket?.readyState !== 1) return;
    socket.send(options.frame ?? message.frame);
    this.#outgoing.markSent(message, Date.now());
    if (options.resend) this.stats.messagesResent += 1;
    else this.stats.messagesSent += 1;
  }

  /** The first send of an Output message is where output faults apply. */
  #firstSendOfOutput(message: OutgoingMessage): void {
    const faults = this.#settings.faults;
    this.#outputsOnSocket += 1;
    this.#outputsTotal += 1;
    this.stats.outputMessagesSent += 1;
    if (faults.dropOutput()) {
      // Counted as sent so the retransmission timer brings it back.
      this.#outgoing.markSent(message, Date.now());
      this.stats.messagesSent += 1;
    } else if (!this.#reorderHeld && faults.reorderOutput()) {
      this.#reorderHeld = message;
      this.#outgoing.markSent(message, Date.now());
      this.stats.messagesSent += 1;
      this.#later(REORDER_FLUSH_MS, () => this.#flushReorder());
    } else {
      const frame = faults.corruptDigest() ? withCorruptDigest(message.frame) : message.frame;
      this.#write(message, { resend: false, frame });
      if (faults.duplicateOutput()) this.#socket?.send(frame);
      this.#flushReorder();
    }
    this.#afterOutput();
  }

  #flushReorder(): void {
    const held = this.#reorderHeld;
    this.#reorderHeld = undefined;
    if (held && this.#socket?.readyState === 1) this.#socket.send(held.frame);
  }

  #afterOutput(): void {
    const faults = this.#settings.faults;
    if (faults.dropSocketNow(this.#outputsOnSocket)) {
      this.#log('fault: dropping the client socket');
      this.#socket?.terminate();
    }
    const pause = faults.pausePublicationNow(this.#outputsTotal);
    if (pause) {
      this.#log('fault: pause_publication');
      this.#sendControl(MessageType.pausePublication);
      this.#later(pause.durationMs, () => this.#sendControl(MessageType.startPublication));
    }
    this.#checkCloseFault();
  }

  #checkCloseFault(): boolean {
    const text = this.#settings.faults.closeWithErrorNow(this.#outputsTotal);
    if (text === undefined) return false;
    this.#log('fault: closing with an error');
    void this.#finish(text);
    return true;
  }

  /** MGS's publication notices: no sequence number, no payload. */
  #sendControl(messageType: string): void {
    if (this.#socket?.readyState !== 1) return;
    this.#socket.send(encodeFrame({ messageType, sequenceNumber: 0, payloadType: PayloadType.none }));
  }

  #sendUnsent(): void {
    for (const message of this.#outgoing.all()) {
      if (message.lastSentAt === 0) this.#write(message, { resend: false });
    }
  }

  /** AGENT ResendStreamDataMessageScheduler: every 100 ms, only the oldest, after its RTO. */
  #retransmit(): void {
    if (!this.#canSend()) return;
    this.#sendUnsent();
    const due = this.#outgoing.dueForResend(Date.now());
    if (due) this.#write(due, { resend: true });
  }

  // ── ending ─────────────────────────────────────────────────────────────────────────────────

  /** ssm:TerminateSession: kill the command, drain, channel_closed. */
  terminate(): void {
    if (this.#state === 'waiting') {
      this.#state = 'ended';
      this.#finalDelivered = true;
      this.#clearTimers();
      return;
    }
    void this.#finish('');
  }

  /** Drain up to 2 s (AGENT PrepareToCloseChannel), then channel_closed and close the socket. */
  async #finish(output: string): Promise<void> {
    if (this.#state === 'ending' || this.#state === 'ended') return;
    this.#state = 'ending';
    clearTimeout(this.#handshakeTimer);
    this.#pty?.kill();
    this.#port?.stop();
    const deadline = Date.now() + this.#settings.drainTimeoutMs;
    while (this.#outgoing.size > 0 && Date.now() < deadline) await sleep(10);
    this.#state = 'ended';
    this.stats.closedWith = output;
    this.#finalFrame = encodeFrame({
      messageType: MessageType.channelClosed,
      sequenceNumber: 0,
      payloadType: PayloadType.none,
      payload: encodeChannelClosedPayload({ sessionId: this.id, destinationId: this.#clientId, output }),
    });
    this.#clearTimers();
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket?.readyState === 1) {
      socket.send(this.#finalFrame);
      socket.close(1000);
      this.#finalDelivered = true;
      this.#log(`closed${output ? ' with an error' : ''}`);
    } else {
      // Delivered if the client resumes within the window.
      this.#abandonTimer = setTimeout(
        () => this.#abandon('channel_closed never delivered'),
        this.#settings.resumeWindowMs,
      );
    }
  }

  #abandon(reason: string): void {
    this.#log(`abandoned: ${reason}`);
    this.shutdown();
  }

  /** Stops everything at once (agent shutdown, or a session nobody came back for). */
  shutdown(): void {
    this.#state = 'ended';
    this.#finalDelivered = true;
    this.#pty?.kill();
    this.#port?.stop();
    this.#clearTimers();
    clearTimeout(this.#abandonTimer);
    this.#socket?.terminate();
    this.#socket = undefined;
  }

  #clearTimers(): void {
    clearInterval(this.#retransmitTimer);
    clearTimeout(this.#handshakeTimer);
    clearTimeout(this.#abandonTimer);
    for (const timer of this.#otherTimers) clearTimeout(timer);
    this.#otherTimers.clear();
  }

  #later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.#otherTimers.delete(timer);
      action();
    }, ms);
    this.#otherTimers.add(timer);
  }
}

function newToken(): string {
  return randomBytes(48).toString('base64');
}

/** The same frame with one digest byte flipped, so a checking receiver drops it. */
function withCorruptDigest(frame: Buffer): Buffer {
  const copy = Buffer.from(frame);
  copy[80] = (copy[80] ?? 0) ^ 0xff;
  return copy;
}
