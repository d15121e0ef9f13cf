// The client end of an SSM Session Manager data channel, spoken natively over a WebSocket: what
// session-manager-plugin does for `aws ecs execute-command`, without the plugin or the AWS CLI.
// It owns one session's stream: the opening message, sequence numbers, acknowledgements, in-order
// delivery, retransmission, the handshake (with optional KMS encryption), pause/start publication,
// back-pressure and reconnecting through ResumeSession. It prints nothing; AWS calls
// (ResumeSession, TerminateSession, KMS) are injected so this module never loads the SDK.
//
// Departures from the plugin, all deliberate:
// - Duplicates are acknowledged again. The plugin ignores them, but then a message whose first ack
//   was lost (a dropped socket; or the agent, which like the plugin writes a message before it
//   buffers it, processing the ack too early) stays at the front of the agent's resend queue
//   forever and keeps its 2 s close-time drain waiting. The agent removes exactly the acknowledged
//   sequence number and ignores unknown ones, and MGS already relays the agent's own re-acks of our
//   duplicates, so a second ack is harmless to both.
// - A message is buffered before it is written, so our own acks can never race it.
// - The resend time is written back after each resend (the plugin resends every 100 ms after the
//   first timeout because it forgets to).
// - Input is held until the session is established (handshake complete, or the first output of a
//   session without handshake): during a handshake the agent drops other input, and in a KMS
//   session it fails to decrypt early plaintext and stalls its whole receive sequence.
// - When the consumer reads output slowly, the socket is paused instead of buffering without bound.

import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import type WebSocket from 'ws';
import { CoderdbError, connectionError, DOCTOR_HINT } from '../core/errors.js';
import { Secret, scrub } from '../core/secret.js';
import {
  CLIENT_VERSION,
  decodeFrame,
  encodeAcknowledge,
  encodeEncryptionChallenge,
  encodeFlag,
  encodeFrame,
  encodeJsonPayload,
  encodeOpeningMessage,
  encodeSize,
  type Frame,
  FrameError,
  FrameFlags,
  MessageType,
  PayloadType,
  parseAcknowledge,
  parseChannelClosed,
  parseEncryptionChallenge,
  parseExitCode,
  parseFlag,
  parseHandshakeComplete,
  parseHandshakeRequest,
  SessionTypeName,
  STREAM_PAYLOAD_LIMIT,
  type TerminalSize,
} from './codec.js';
import type { SessionCipher } from './crypto.js';
import { answerHandshake, type EncryptionSettings } from './handshake.js';
import { RETRANSMISSION } from './rto.js';
import { IncomingSequencer, OutgoingBuffer, type OutgoingMessage } from './sequencing.js';
import { type BackoffPolicy, backoffDelays, PLUGIN_BACKOFF, sleep, withTimeout } from './timing.js';

let webSocketLoading: Promise<typeof WebSocket> | undefined;

/**
 * Loads the WebSocket library (once). A transport calls it once its first AWS requests are on
 * their way, so that the load runs while they are answered rather than before they are sent.
 */
export function loadWebSocket(): Promise<typeof WebSocket> {
  webSocketLoading ??= import('ws').then((module) => module.default);
  return webSocketLoading;
}

/** One per process, like the plugin's ClientId. */
const CLIENT_ID = randomUUID();

/**
 * Whether the agent will handshake. ECS Exec without a KMS key on the cluster does not; with one it
 * does; port sessions always do. 'auto' waits for either a HandshakeRequest or the first output,
 * and after `establishGraceMs` of silence assumes there is no handshake.
 */
export type HandshakeExpectation = 'auto' | 'none' | 'required';

export interface ChannelTimeouts {
  /** One WebSocket dial, upgrade included. */
  connectMs: number;
  /** From the first HandshakeRequest (or from connecting, when required) to HandshakeComplete. */
  handshakeMs: number;
  /** 'auto' only: silence after connecting that means "no handshake". */
  establishGraceMs: number;
  /** One resumeSession() call. */
  resumeMs: number;
  /** The terminateSession() call. */
  terminateMs: number;
  /** After TerminateSession: how long to wait for channel_closed and the last output. */
  closeWaitMs: number;
  /** One KMS GenerateDataKey call. */
  kmsMs: number;
  /** Connected time a message may stay unacknowledged before the session is declared dead. */
  resendGiveUpMs: number;
  /** WebSocket ping interval; a ping unanswered for a whole interval drops the socket (→ resume). */
  keepaliveMs: number;
}

export const DEFAULT_TIMEOUTS: ChannelTimeouts = {
  connectMs: 15_000,
  handshakeMs: 30_000,
  establishGraceMs: 1_500,
  resumeMs: 15_000,
  terminateMs: 10_000,
  closeWaitMs: 3_000,
  kmsMs: 15_000,
  // The plugin gives up after 3000 resends, about five minutes.
  resendGiveUpMs: 300_000,
  // The plugin pings every five minutes.
  keepaliveMs: 300_000,
};

export interface DataChannelOptions {
  /** StreamUrl from ExecuteCommand / StartSession. */
  streamUrl: string;
  /** TokenValue from the same response. */
  token: string | Secret;
  sessionId: string;
  handshake?: HandshakeExpectation;
  /** Needed only when the agent asks for KMS encryption. */
  encryption?: EncryptionSettings;
  /** ssm:ResumeSession: a fresh token, or undefined when the session is gone. */
  resumeSession?: () => Promise<string | Secret | undefined>;
  /** ssm:TerminateSession. */
  terminateSession?: () => Promise<void>;
  timeouts?: Partial<ChannelTimeouts>;
  reconnect?: Partial<BackoffPolicy>;
  /** Bytes of output buffered for the consumer before the socket is paused. */
  outputHighWaterMark?: number;
  /** Unacknowledged input messages (≤1 KiB each) before writes wait. */
  maxUnackedMessages?: number;
  clientVersion?: string;
  /** Diagnostics; never receives tokens, keys or payload bytes. */
  log?: (message: string) => void;
}

export interface SessionInfo {
  /** From the handshake, or Standard_Stream when the agent started sending output without one. */
  sessionType: string;
  /** Handshake Properties (port parameters for Port sessions; null for shells). */
  properties: unknown;
  /** Known only when the agent handshakes. */
  agentVersion: string | undefined;
  /** HandshakeComplete.CustomerMessage, e.g. "This session is encrypted using AWS KMS." */
  customerMessage: string;
  encrypted: boolean;
  handshake: boolean;
}

export interface ChannelEnd {
  /**
   * channel-closed: the service closed the session (normal end, or an error text in `output`);
   * terminated: terminate() was called; closed: close() was called; failed: a fatal error.
   */
  reason: 'channel-closed' | 'terminated' | 'closed' | 'failed';
  /** channel_closed Output: empty for a normal end, otherwise the service's error text. */
  output: string;
  /** Set for non-empty Output, lost output, and failures. */
  error?: CoderdbError;
  /** Only NonInteractiveCommands sessions report one; ECS Exec never does. */
  exitCode?: number;
}

export interface ChannelStats {
  messagesSent: number;
  messagesResent: number;
  acksSent: number;
  acksReceived: number;
  messagesReceived: number;
  duplicatesReceived: number;
  outOfOrderReceived: number;
  framesRejected: number;
  reconnects: number;
}

export interface DataChannelEvents {
  established: [SessionInfo];
  /** Flag payloads from the agent, e.g. 3 = ConnectToPortError in port sessions. */
  flag: [number];
  exitCode: [number];
}

type ChannelState = 'connecting' | 'open' | 'reconnecting' | 'ended';

interface HeldMessage {
  payloadType: number;
  payload: Buffer;
}

export class DataChannel extends EventEmitter<DataChannelEvents> {
  /** The output bytes (pty output or tunnelled bytes), in order; ends with the session. */
  readonly output: Readable;
  /** StdErr payloads (NonInteractiveCommands only). */
  readonly stderr: Readable;
  /** Input bytes, sent as Output payloads of at most 1024 bytes; waits when the window is full. */
  readonly input: Writable;
  /** Resolves once the session type is known and input may flow; rejects if the channel ends first. */
  readonly established: Promise<SessionInfo>;
  /** Resolves (never rejects) when the channel is over, for whatever reason. */
  readonly closed: Promise<ChannelEnd>;

  readonly #options: DataChannelOptions;
  readonly #timeouts: ChannelTimeouts;
  readonly #backoff: BackoffPolicy;
  readonly #maxUnacked: number;
  readonly #log: (message: string) => void;
  readonly #stats: ChannelStats = {
    messagesSent: 0,
    messagesResent: 0,
    acksSent: 0,
    acksReceived: 0,
    messagesReceived: 0,
    duplicatesReceived: 0,
    outOfOrderReceived: 0,
    framesRejected: 0,
    reconnects: 0,
  };

  #state: ChannelState = 'connecting';
  #ws: WebSocket | undefined;
  #token: Secret;
  readonly #incoming = new IncomingSequencer();
  readonly #outgoing = new OutgoingBuffer();
  #nextSequence = 0;
  /** Input waiting for the session to be established; gets sequence numbers only when released. */
  #held: HeldMessage[] = [];
  /** In-order payloads are handled one after another; the handshake awaits KMS in between. */
  #inbox: Promise<void> = Promise.resolve();
  #session: SessionInfo | undefined;
  /** What the handshake told us, until HandshakeComplete makes it the session. */
  #pendingSession: SessionInfo | undefined;
  #handshakeSeen = false;
  #cipher: SessionCipher | undefined;
  #publicationPaused = false;
  #readingPaused = false;
  #awaitingPong = false;
  /** When sending or ack-reading last became possible again; the give-up clock restarts there. */
  #unblockedAt = 0;
  #terminating = false;
  #termination: Promise<ChannelEnd> | undefined;
  #exitCode: number | undefined;
  #writeWaiters: Array<() => void> = [];
  #flushWaiters: Array<() => void> = [];
  #retransmitTimer: NodeJS.Timeout | undefined;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #handshakeTimer: NodeJS.Timeout | undefined;
  #resolveEstablished!: (info: SessionInfo) => void;
  #rejectEstablished!: (error: Error) => void;
  #resolveClosed!: (end: ChannelEnd) => void;

  /** Connects (retrying like the plugin) and returns once the opening message is on the wire. */
  static async open(options: DataChannelOptions): Promise<DataChannel> {
    const channel = new DataChannel(options);
    await channel.#start();
    return channel;
  }

  private constructor(options: DataChannelOptions) {
    super();
    this.#options = options;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.#backoff = { ...PLUGIN_BACKOFF, ...options.reconnect };
    this.#maxUnacked = options.maxUnackedMessages ?? 256;
    this.#log = options.log ?? (() => {});
    this.#token = typeof options.token === 'string' ? new Secret(options.token) : options.token;

    this.output = new Readable({
      highWaterMark: options.outputHighWaterMark ?? 64 * 1024,
      read: () => this.#resumeReading(),
    });
    this.stderr = new Readable({ read() {} });
    this.input = new Writable({
      highWaterMark: 16 * 1024,
      write: (chunk: Buffer, _encoding, callback) => this.#writeInput(chunk, callback),
      final: (callback) => {
        this.flush().then(() => callback(), callback);
      },
    });
    // Failures are reported through `closed`; these listeners keep an unobserved stream error from
    // becoming an uncaught exception. Async iteration and pipeline() still see the error.
    this.output.on('error', () => {});
    this.input.on('error', () => {});

    this.established = new Promise<SessionInfo>((resolve, reject) => {
      this.#resolveEstablished = resolve;
      this.#rejectEstablished = reject;
    });
    this.established.catch(() => {});
    this.closed = new Promise<ChannelEnd>((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  get sessionId(): string {
    return this.#options.sessionId;
  }

  /** Known once established. */
  get session(): SessionInfo | undefined {
    return this.#session;
  }

  get exitCode(): number | undefined {
    return this.#exitCode;
  }

  get stats(): Readonly<ChannelStats> {
    return { ...this.#stats };
  }

  /** Queues input bytes; prefer `input` (a Writable) when the amount is large. */
  write(data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    this.#queueInput(bytes);
  }

  /** Sends the terminal size (PayloadType Size); shells should send it right after connecting. */
  resize(size: TerminalSize): void {
    this.#send(PayloadType.size, encodeSize(size));
  }

  /** Sends a Flag payload (1 DisconnectToPort, 2 TerminateSession, 3 ConnectToPortError). */
  sendFlag(flag: number): void {
    this.#send(PayloadType.flag, encodeFlag(flag));
  }

  /** Resolves when everything sent so far has been acknowledged by the agent. */
  flush(timeoutMs = this.#timeouts.resendGiveUpMs): Promise<void> {
    if (this.#state === 'ended') {
      return Promise.reject(this.#endedError());
    }
    if (this.#held.length === 0 && this.#outgoing.size === 0) return Promise.resolve();
    const drained = new Promise<void>((resolve) => this.#flushWaiters.push(resolve));
    const ended = this.closed.then(() => Promise.reject(this.#endedError()));
    return withTimeout(Promise.race([drained, ended]), timeoutMs, () =>
      connectionError('ssm.flush-timeout', 'The agent did not acknowledge the input in time.', {
        hint: DOCTOR_HINT,
      }),
    );
  }

  /**
   * Ends the session through ssm:TerminateSession, waits briefly for channel_closed (so the last
   * output still arrives), then closes the socket.
   */
  terminate(): Promise<ChannelEnd> {
    // One TerminateSession however many parts of the program ask (an abort, then a close).
    this.#termination ??= this.#terminate();
    return this.#termination;
  }

  async #terminate(): Promise<ChannelEnd> {
    if (this.#state === 'ended') return this.closed;
    this.#terminating = true;
    const terminateSession = this.#options.terminateSession;
    if (terminateSession) {
      try {
        await withTimeout(
          terminateSession(),
          this.#timeouts.terminateMs,
          () => new Error('TerminateSession timed out'),
        );
      } catch (error) {
        this.#log(`TerminateSession failed: ${describe(error)}`);
      }
      // A bounded wait whose timer is cleared, so a prompt channel_closed lets the process exit.
      await withTimeout(this.closed, this.#timeouts.closeWaitMs, () => new Error('close wait')).catch(
        () => undefined,
      );
    }
    this.#end({ reason: 'terminated', output: '' });
    return this.closed;
  }

  /** Closes the socket without telling the service; the session times out on its own. */
  close(): void {
    this.#end({ reason: 'closed', output: '' });
  }

  // ── connection ─────────────────────────────────────────────────────────────────────────────

  async #start(): Promise<void> {
    const delays = backoffDelays(this.#backoff);
    let lastError: unknown;
    // The plugin retries a failed first dial with the same token before giving up.
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      try {
        await this.#connect();
        lastError = undefined;
        break;
      } catch (error) {
        lastError = error;
        const delay = delays[attempt];
        if (delay === undefined) break;
        await sleep(delay);
      }
    }
    if (lastError !== undefined) {
      const error = connectionError(
        'ssm.connect-failed',
        `Could not open the Session Manager data channel: ${describe(lastError)}`,
        { hint: DOCTOR_HINT, cause: lastError },
      );
      this.#end({ reason: 'failed', output: '', error });
      throw error;
    }
    this.#state = 'open';
    this.#retransmitTimer = setInterval(() => this.#retransmit(), RETRANSMISSION.checkIntervalMs);
    this.#keepaliveTimer = setInterval(() => this.#keepalive(), this.#timeouts.keepaliveMs);
    const expectation = this.#options.handshake ?? 'auto';
    if (expectation === 'none') {
      this.#establish(plainSession());
    } else if (expectation === 'required') {
      this.#startHandshakeTimer();
    } else {
      this.#graceTimer = setTimeout(() => {
        if (!this.#handshakeSeen && !this.#session) {
          this.#log('no handshake request; assuming a session without handshake');
          this.#establish(plainSession());
        }
      }, this.#timeouts.establishGraceMs);
    }
  }

  /** One dial: upgrade, then the opening text message with the current token. */
  async #connect(): Promise<void> {
    const ws = new (await loadWebSocket())(this.#options.streamUrl, {
      perMessageDeflate: false,
      handshakeTimeout: this.#timeouts.connectMs,
    });
    ws.binaryType = 'nodebuffer';
    ws.on('error', (error) => this.#log(`websocket error: ${error.message}`));
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('close', (code) => reject(new Error(`socket closed during upgrade (code ${code})`)));
      }),
      this.#timeouts.connectMs,
      () => new Error('timed out opening the WebSocket'),
    ).catch((error: unknown) => {
      ws.terminate();
      throw error;
    });
    ws.on('message', (data: Buffer) => {
      if (ws === this.#ws) this.#onFrame(data);
    });
    ws.on('pong', () => {
      this.#awaitingPong = false;
    });
    ws.on('close', (code) => this.#onSocketClosed(ws, code));
    this.#ws = ws;
    this.#awaitingPong = false;
    ws.send(
      encodeOpeningMessage({
        tokenValue: this.#token.reveal(),
        clientId: CLIENT_ID,
        clientVersion: this.#options.clientVersion ?? CLIENT_VERSION,
      }),
    );
    ws.ping('keepalive');
    if (this.#readingPaused) ws.pause();
  }

  #onSocketClosed(ws: WebSocket, code: number): void {
    if (ws !== this.#ws) return;
    this.#ws = undefined;
    if (this.#state === 'ended') return;
    this.#log(`socket closed (code ${code}); resuming the session`);
    void this.#reconnect();
  }

  /** ResumeSession for a new token, re-dial the same URL, resend what is unacknowledged. */
  async #reconnect(): Promise<void> {
    if (this.#state === 'reconnecting' || this.#state === 'ended') return;
    this.#state = 'reconnecting';
    this.#stats.reconnects += 1;
    const resumeSession = this.#options.resumeSession;
    if (!resumeSession) {
      this.#fail(
        connectionError('ssm.connection-lost', 'The Session Manager connection dropped.', {
          hint: DOCTOR_HINT,
        }),
      );
      return;
    }
    const delays = backoffDelays(this.#backoff);
    let lastError: unknown;
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (this.#state !== 'reconnecting') return;
      try {
        const token = await withTimeout(
          resumeSession(),
          this.#timeouts.resumeMs,
          () => new Error('ResumeSession timed out'),
        );
        if (this.#state !== 'reconnecting') return;
        if (token === undefined || token === '') {
          this.#fail(
            connectionError('ssm.session-timed-out', `Session ${this.sessionId} timed out.`, {
              hint: 'the session ended while the connection was down; run the command again',
            }),
          );
          return;
        }
        this.#token = typeof token === 'string' ? new Secret(token) : token;
        await this.#connect();
        if (this.#state !== 'reconnecting') {
          this.#ws?.close();
          return;
        }
        this.#state = 'open';
        this.#outgoing.forgetSendTimes();
        this.#log(`reconnected; resending ${this.#outgoing.size} unacknowledged message(s)`);
        this.#sendUnsent();
        return;
      } catch (error) {
        lastError = error;
        this.#log(`resume attempt ${attempt + 1} failed: ${describe(error)}`);
        const delay = delays[attempt];
        if (delay === undefined) break;
        await sleep(delay);
      }
    }
    this.#fail(
      connectionError(
        'ssm.resume-failed',
        `Could not resume the Session Manager session: ${describe(lastError)}`,
        {
          hint: DOCTOR_HINT,
          cause: lastError,
        },
      ),
    );
  }

  #keepalive(): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== ws.OPEN) return;
    // A paused socket cannot read the pong, so silence proves nothing then.
    if (this.#awaitingPong && !this.#readingPaused) {
      this.#log('no pong since the last ping; dropping the socket');
      ws.terminate();
      return;
    }
    this.#awaitingPong = true;
    ws.ping('keepalive');
  }

  // ── receiving ──────────────────────────────────────────────────────────────────────────────

  #onFrame(data: Buffer): void {
    this.#awaitingPong = false;
    let frame: Frame;
    try {
      frame = decodeFrame(data, { verifyDigest: true });
    } catch (error) {
      // Like the plugin: drop it unacknowledged; the agent retransmits.
      this.#stats.framesRejected += 1;
      this.#log(`dropped an invalid frame: ${error instanceof FrameError ? error.reason : describe(error)}`);
      return;
    }
    switch (frame.messageType) {
      case MessageType.outputStreamData:
        this.#unpausePublication();
        this.#onStreamMessage(frame);
        break;
      case MessageType.acknowledge:
        this.#unpausePublication();
        this.#onAcknowledge(frame);
        break;
      case MessageType.channelClosed:
        this.#onChannelClosed(frame);
        break;
      case MessageType.pausePublication:
        this.#log('pause_publication: holding our stream messages');
        this.#publicationPaused = true;
        break;
      case MessageType.startPublication:
        this.#unpausePublication();
        break;
      default:
        // agent_session_state and anything newer: not for clients.
        break;
    }
  }

  #onStreamMessage(frame: Frame): void {
    const arrival = this.#incoming.accept(frame);
    switch (arrival.kind) {
      case 'in-order':
        this.#acknowledge(frame);
        this.#stats.messagesReceived += 1;
        for (const message of arrival.deliver) {
          this.#inbox = this.#inbox
            .then(() => this.#handlePayload(message))
            .catch((error: unknown) => this.#fail(asFailure(error)));
        }
        break;
      case 'future':
        this.#acknowledge(frame);
        this.#stats.messagesReceived += 1;
        this.#stats.outOfOrderReceived += 1;
        break;
      case 'duplicate':
        // See the top comment: re-acking is what stops the agent resending it.
        this.#acknowledge(frame);
        this.#stats.duplicatesReceived += 1;
        break;
      case 'overflow':
        // Unacked on purpose: the agent resends it once the gap is filled.
        break;
    }
  }

  #acknowledge(frame: Frame): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== ws.OPEN) return;
    ws.send(encodeAcknowledge(frame));
    this.#stats.acksSent += 1;
  }

  #onAcknowledge(frame: Frame): void {
    let sequenceNumber: number;
    try {
      sequenceNumber = parseAcknowledge(frame.payload).sequenceNumber;
    } catch (error) {
      this.#log(`ignored an unreadable acknowledge: ${describe(error)}`);
      return;
    }
    this.#stats.acksReceived += 1;
    if (!this.#outgoing.acknowledge(sequenceNumber, Date.now())) return;
    this.#wakeWriters();
  }

  async #handlePayload(frame: Frame): Promise<void> {
    if (this.#state === 'ended') return;
    switch (frame.payloadType) {
      case PayloadType.handshakeRequest:
        await this.#onHandshakeRequest(frame.payload);
        return;
      case PayloadType.encChallengeRequest:
        this.#onEncryptionChallenge(frame.payload);
        return;
      case PayloadType.handshakeComplete:
        this.#onHandshakeComplete(frame.payload);
        return;
      case PayloadType.output: {
        const data = this.#decrypt(frame.payload);
        // Without a handshake the first output is what tells us the session is up (plugin:
        // ProcessFirstMessage sets Standard_Stream).
        if (!this.#session && !this.#handshakeSeen) this.#establish(plainSession());
        if (data.length > 0 && !this.output.push(data)) this.#pauseReading();
        return;
      }
      case PayloadType.stdErr:
        this.stderr.push(this.#decrypt(frame.payload));
        return;
      case PayloadType.exitCode: {
        const code = parseExitCode(this.#decrypt(frame.payload));
        if (code !== undefined) {
          this.#exitCode = code;
          this.emit('exitCode', code);
        }
        return;
      }
      case PayloadType.flag:
        this.emit('flag', parseFlag(frame.payload));
        return;
      default:
        return;
    }
  }

  #decrypt(payload: Buffer): Buffer {
    if (!this.#cipher) return payload;
    try {
      return this.#cipher.decrypt(payload);
    } catch (error) {
      throw connectionError('ssm.decrypt-failed', 'Could not decrypt output from the agent.', {
        hint: 'the KMS session key does not match; start a new session',
        cause: error,
      });
    }
  }

  async #onHandshakeRequest(payload: Buffer): Promise<void> {
    if (this.#session) {
      // We guessed "no handshake" too early. Whatever we sent meanwhile the agent dropped; from
      // here on hold input again until HandshakeComplete.
      this.#log('handshake request after the session was assumed established');
      this.#session = undefined;
    }
    this.#handshakeSeen = true;
    clearTimeout(this.#graceTimer);
    this.#startHandshakeTimer();
    const request = parseHandshakeRequest(payload);
    const answer = await answerHandshake(request, {
      sessionId: this.sessionId,
      clientVersion: this.#options.clientVersion ?? CLIENT_VERSION,
      encryption: this.#options.encryption,
      withDeadline: (promise) =>
        withTimeout(promise, this.#timeouts.kmsMs, () => new Error('KMS GenerateDataKey timed out')),
    });
    this.#pendingSession = {
      sessionType: answer.sessionType ?? SessionTypeName.standardStream,
      properties: answer.properties,
      agentVersion: answer.agentVersion,
      customerMessage: '',
      encrypted: answer.cipher !== undefined,
      handshake: true,
    };
    this.#cipher = answer.cipher;
    this.#transmitNew(PayloadType.handshakeResponse, encodeJsonPayload(answer.response));
    if (answer.failures.length > 0) {
      // The agent cancels the session on any failed action; say why here rather than wait.
      this.#fail(
        connectionError(
          'ssm.handshake-failed',
          `Session handshake failed: ${scrub(answer.failures.join('; '))}`,
          {
            hint: answer.failures.some((f) => f.includes('KMSEncryption'))
              ? 'the session is KMS-encrypted; check kms:GenerateDataKey permission on the key'
              : DOCTOR_HINT,
          },
        ),
      );
    }
  }

  #onEncryptionChallenge(payload: Buffer): void {
    if (!this.#cipher) {
      throw connectionError('ssm.handshake-failed', 'The agent sent an encryption challenge without KMS.', {
        hint: DOCTOR_HINT,
      });
    }
    let answer: Buffer;
    try {
      answer = this.#cipher.answerChallenge(parseEncryptionChallenge(payload));
    } catch (error) {
      throw connectionError('ssm.handshake-failed', 'Could not answer the KMS encryption challenge.', {
        hint: 'the KMS session key does not match; start a new session',
        cause: error,
      });
    }
    this.#transmitNew(PayloadType.encChallengeResponse, encodeEncryptionChallenge(answer));
  }

  #onHandshakeComplete(payload: Buffer): void {
    const complete = parseHandshakeComplete(payload);
    const session = this.#pendingSession ?? { ...plainSession(), handshake: true };
    this.#establish({ ...session, customerMessage: complete.CustomerMessage });
  }

  #startHandshakeTimer(): void {
    if (this.#handshakeTimer) return;
    this.#handshakeTimer = setTimeout(() => {
      if (this.#session) return;
      this.#fail(
        connectionError('ssm.handshake-timeout', 'The Session Manager handshake did not complete in time.', {
          hint: DOCTOR_HINT,
        }),
      );
    }, this.#timeouts.handshakeMs);
  }

  #establish(info: SessionInfo): void {
    if (this.#session || this.#state === 'ended') return;
    this.#session = info;
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = undefined;
    this.#log(`session established: ${info.sessionType}${info.handshake ? ' (handshake)' : ''}`);
    const held = this.#held;
    this.#held = [];
    for (const message of held) this.#transmitNew(message.payloadType, message.payload);
    this.#resolveEstablished(info);
    this.emit('established', info);
  }

  #onChannelClosed(frame: Frame): void {
    const info = parseChannelClosed(frame.payload);
    // Deliver everything already in order before ending the stream.
    void this.#inbox.then(() => {
      const lost = this.#incoming.buffered;
      let error: CoderdbError | undefined;
      if (info.output.trim() !== '') {
        error = connectionError(
          'ssm.channel-closed',
          `The session ended with an error: ${summarize(info.output)}`,
          {
            hint: DOCTOR_HINT,
          },
        );
      } else if (lost > 0) {
        error = connectionError(
          'ssm.output-lost',
          `The session closed with ${lost} output message(s) still waiting for a missing one.`,
          { hint: 'some output was lost in transit; run the command again' },
        );
      }
      this.#end({ reason: this.#terminating ? 'terminated' : 'channel-closed', output: info.output, error });
    });
  }

  // ── sending ────────────────────────────────────────────────────────────────────────────────

  #queueInput(bytes: Buffer): void {
    for (let offset = 0; offset < bytes.length; offset += STREAM_PAYLOAD_LIMIT) {
      this.#send(PayloadType.output, bytes.subarray(offset, offset + STREAM_PAYLOAD_LIMIT));
    }
  }

  #writeInput(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.#state === 'ended') {
      callback(this.#endedError());
      return;
    }
    this.#queueInput(chunk);
    if (this.#windowFull()) this.#writeWaiters.push(() => callback());
    else callback();
  }

  #windowFull(): boolean {
    return this.#outgoing.size + this.#held.length >= this.#maxUnacked;
  }

  #wakeWriters(): void {
    while (this.#writeWaiters.length > 0 && !this.#windowFull()) this.#writeWaiters.shift()?.();
    if (this.#outgoing.size === 0 && this.#held.length === 0) {
      const waiters = this.#flushWaiters;
      this.#flushWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Application data: held until the session is established. */
  #send(payloadType: number, payload: Buffer): void {
    if (this.#state === 'ended') return;
    if (!this.#session) {
      this.#held.push({ payloadType, payload: Buffer.from(payload) });
      return;
    }
    this.#transmitNew(payloadType, payload);
  }

  /** Gives the payload the next sequence number, buffers it, and sends it if we can. */
  #transmitNew(payloadType: number, payload: Buffer): void {
    // Only Output is encrypted client→agent; Size, Flag and handshake payloads never are.
    const body = payloadType === PayloadType.output && this.#cipher ? this.#cipher.encrypt(payload) : payload;
    const frame = encodeFrame({
      messageType: MessageType.inputStreamData,
      sequenceNumber: this.#nextSequence,
      flags: FrameFlags.none,
      payloadType,
      payload: body,
    });
    const message = this.#outgoing.add(this.#nextSequence, frame);
    this.#nextSequence += 1;
    this.#transmit(message);
  }

  #canSend(): boolean {
    return this.#state === 'open' && !this.#publicationPaused && this.#ws?.readyState === this.#ws?.OPEN;
  }

  #transmit(message: OutgoingMessage): void {
    if (!this.#canSend()) return;
    const resend = message.lastSentAt !== 0;
    this.#ws?.send(message.frame);
    this.#outgoing.markSent(message, Date.now());
    if (resend) this.#stats.messagesResent += 1;
    else this.#stats.messagesSent += 1;
  }

  /** After reconnecting or unpausing: everything not yet on this connection, oldest first. */
  #sendUnsent(): void {
    for (const message of this.#outgoing.all()) {
      if (message.lastSentAt === 0) this.#transmit(message);
    }
  }

  #unpausePublication(): void {
    if (!this.#publicationPaused) return;
    this.#publicationPaused = false;
    this.#unblockedAt = Date.now();
    this.#log('publication resumed');
    this.#sendUnsent();
  }

  #retransmit(): void {
    // While reading is paused we cannot see acks, so resending would only repeat ourselves.
    if (!this.#canSend() || this.#readingPaused) return;
    const now = Date.now();
    this.#sendUnsent();
    const oldest = this.#outgoing.oldest();
    const waitingSince = oldest ? Math.max(oldest.firstSentAt, this.#unblockedAt) : 0;
    if (oldest && oldest.firstSentAt !== 0 && now - waitingSince > this.#timeouts.resendGiveUpMs) {
      this.#fail(
        connectionError('ssm.resend-timeout', 'The agent stopped acknowledging input.', {
          hint: DOCTOR_HINT,
        }),
        { terminate: true },
      );
      return;
    }
    const due = this.#outgoing.dueForResend(now);
    if (due) this.#transmit(due);
  }

  // ── back-pressure ──────────────────────────────────────────────────────────────────────────

  #pauseReading(): void {
    if (this.#readingPaused) return;
    this.#readingPaused = true;
    this.#ws?.pause();
  }

  #resumeReading(): void {
    if (!this.#readingPaused) return;
    this.#readingPaused = false;
    this.#unblockedAt = Date.now();
    this.#ws?.resume();
  }

  // ── ending ─────────────────────────────────────────────────────────────────────────────────

  #fail(error: CoderdbError, options: { terminate?: boolean } = {}): void {
    if (this.#state === 'ended') return;
    this.#log(`failing: ${error.code}`);
    if (options.terminate && this.#options.terminateSession) {
      void withTimeout(
        this.#options.terminateSession(),
        this.#timeouts.terminateMs,
        () => new Error('timeout'),
      ).catch(() => {});
    }
    this.#end({ reason: 'failed', output: '', error });
  }

  #end(end: ChannelEnd): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    clearInterval(this.#retransmitTimer);
    clearInterval(this.#keepaliveTimer);
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#handshakeTimer);
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) {
      ws.resume();
      if (ws.readyState === ws.OPEN) ws.close(1000);
      else ws.terminate();
    }
    const result: ChannelEnd = { ...end };
    if (this.#exitCode !== undefined) result.exitCode = this.#exitCode;
    if (end.reason === 'failed' && end.error) this.output.destroy(end.error);
    else this.output.push(null);
    this.stderr.push(null);
    this.input.destroy();
    for (const wake of this.#writeWaiters.splice(0)) wake();
    this.#flushWaiters = [];
    this.#rejectEstablished(
      end.error ?? connectionError('ssm.channel-closed', 'The session ended before it was established.'),
    );
    this.#resolveClosed(result);
  }

  #endedError(): CoderdbError {
    return connectionError('ssm.channel-ended', 'The Session Manager channel has ended.');
  }
}

function plainSession(): SessionInfo {
  return {
    sessionType: SessionTypeName.standardStream,
    properties: null,
    agentVersion: undefined,
    customerMessage: '',
    encrypted: false,
    handshake: false,
  };
}

function describe(error: unknown): string {
  return scrub(error instanceof Error ? error.message : String(error));
}

function asFailure(error: unknown): CoderdbError {
  if (error instanceof CoderdbError) return error;
  return connectionError('ssm.protocol-error', `Unexpected data from the agent: ${describe(error)}`, {
    hint: DOCTOR_HINT,
    cause: error,
  });
}

/** One line out of the agent's error text (which comes framed by "----------ERROR-------"). */
export function summarize(output: string): string {
  const lines = output
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^-+ERROR-+$/.test(line));
  return scrub(lines.join(' ')).slice(0, 500);
}
