// The client side of an SSM port-forwarding session (SessionType Port, §7), on top of a DataChannel
// whose handshake already answered SessionType Port with status 1 and ClientVersion 1.2.677.0.
// It turns the session into connections to the remote host:port, exactly as session-manager-plugin
// decides them from the agent's version (§7.1):
// - multiplexed (agent > 3.0.196.0): one smux v1 stream per connection, any number at once;
// - basic (older agents): one connection at a time, Flag DisconnectToPort after each.
// It prints nothing and opens no listener; src/transport/tunnel.ts puts a local port in front.

import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { type CoderdbError, connectionError } from '../core/errors.js';
import { type ChannelEnd, type DataChannel, type SessionInfo, summarize } from './channel.js';
import { Flag, SessionTypeName } from './codec.js';
import { SMUX_KEEPALIVE, SmuxSession } from './smux.js';

export const PORT_FORWARDING_DOCUMENT = 'AWS-StartPortForwardingSessionToRemoteHost';
export const LOCAL_PORT_FORWARDING = 'LocalPortForwarding';

/** session-manager-plugin config.go: features enabled for agents strictly above these versions. */
export const AGENT_VERSION_THRESHOLDS = {
  mux: '3.0.196.0',
  muxKeepAliveDisabled: '3.1.1511.0',
  terminateSessionFlag: '2.3.722.0',
} as const;

/**
 * The plugin's version test (version/versionutil.go): both versions must have the same number of
 * dot-separated components, each an integer (Go strconv.Atoi: optional sign, int64); any mismatch
 * or parse failure means "not above". So "3.1" or "" is never above "3.0.196.0".
 */
export function agentVersionAbove(version: string | undefined, threshold: string): boolean {
  if (!version) return false;
  const these = version.split('.');
  const those = threshold.split('.');
  if (these.length !== those.length) return false;
  for (let i = 0; i < these.length; i++) {
    const a = atoi(these[i] as string);
    const b = atoi(those[i] as string);
    if (a === undefined || b === undefined) return false;
    if (a !== b) return a > b;
  }
  return false;
}

const INT64_MAX = 2n ** 63n - 1n;

function atoi(text: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(text)) return undefined;
  const value = BigInt(text);
  return value > INT64_MAX || value < -INT64_MAX - 1n ? undefined : value;
}

export interface PortMode {
  mode: 'mux' | 'basic';
  /** smux keepalive (NOP every 10 s, dead after 30 s of silence); mux only. */
  keepAlive: boolean;
  /** End the session with Flag TerminateSession; otherwise with the ssm:TerminateSession API. */
  terminateWithFlag: boolean;
}

/** §7.1, client column. */
export function choosePortMode(agentVersion: string | undefined): PortMode {
  const mux = agentVersionAbove(agentVersion, AGENT_VERSION_THRESHOLDS.mux);
  return {
    mode: mux ? 'mux' : 'basic',
    keepAlive: mux && !agentVersionAbove(agentVersion, AGENT_VERSION_THRESHOLDS.muxKeepAliveDisabled),
    terminateWithFlag: mux || agentVersionAbove(agentVersion, AGENT_VERSION_THRESHOLDS.terminateSessionFlag),
  };
}

export interface PortSessionOptions {
  /** After Flag TerminateSession: how long to wait for channel_closed before calling the API. */
  terminateWaitMs?: number;
  /** Overrides smux's keepalive timing when keepalive is on (tests). */
  keepAlive?: { intervalMs: number; timeoutMs: number };
  log?: (line: string) => void;
}

export interface PortSessionEvents {
  /** Flag ConnectToPortError: the agent could not connect to the destination for a connection. */
  connectError: [];
}

/** The agent refused a connection (mux: Flag 3 then FIN; basic: the session ends). */
export function connectFailed(destination: string, detail = ''): CoderdbError {
  return connectionError(
    'tunnel.connect-failed',
    `connection to the database port failed: the task could not connect to ${destination}${detail ? ` (${detail})` : ' (ConnectToPortError from the SSM agent)'}`,
    {
      hint: "the task's security group must be admitted by the database's on that port, and the database must be running; run `coderdb doctor`",
    },
  );
}

export class PortSession extends EventEmitter<PortSessionEvents> {
  readonly mode: PortMode;
  readonly agentVersion: string | undefined;
  /** host:port the agent forwards to, from the handshake's Properties. */
  readonly destination: string;
  readonly #channel: DataChannel;
  readonly #terminateWaitMs: number;
  readonly #log: (line: string) => void;
  readonly #mux: SmuxSession | undefined;
  readonly #basic: BasicForwarder | undefined;
  #pendingRefusals = 0;

  /** Waits for the handshake and checks it is a local port-forwarding session. */
  static async start(channel: DataChannel, options: PortSessionOptions = {}): Promise<PortSession> {
    let info: SessionInfo;
    try {
      info = await channel.established;
    } catch (error) {
      channel.close();
      throw error;
    }
    const properties = asRecord(info.properties);
    const problem =
      info.sessionType !== SessionTypeName.port
        ? `the agent started a ${info.sessionType} session, not a Port session`
        : properties.type !== LOCAL_PORT_FORWARDING
          ? `the session forwards as ${String(properties.type ?? 'standard streams')}, not LocalPortForwarding`
          : undefined;
    if (problem) {
      await channel.terminate();
      throw connectionError('tunnel.not-port-forwarding', problem, {
        hint: `start the session with the ${PORT_FORWARDING_DOCUMENT} document`,
      });
    }
    return new PortSession(channel, info, properties, options);
  }

  private constructor(
    channel: DataChannel,
    info: SessionInfo,
    properties: Record<string, unknown>,
    options: PortSessionOptions,
  ) {
    super();
    this.#channel = channel;
    this.#terminateWaitMs = options.terminateWaitMs ?? 5_000;
    this.#log = options.log ?? (() => {});
    this.agentVersion = info.agentVersion;
    this.mode = choosePortMode(info.agentVersion);
    this.destination = `${String(properties.host || 'localhost')}:${String(properties.portNumber ?? '')}`;
    this.#log(
      `port session ${channel.sessionId}: agent ${info.agentVersion ?? 'unknown'}, ${this.mode.mode} mode`,
    );
    channel.on('flag', (flag) => {
      if (flag !== Flag.connectToPortError) return;
      this.#pendingRefusals += 1;
      this.emit('connectError');
    });
    if (this.mode.mode === 'mux') {
      this.#mux = new SmuxSession({
        input: channel.output,
        output: channel.input,
        keepAlive: this.mode.keepAlive ? (options.keepAlive ?? SMUX_KEEPALIVE) : false,
        // The agent sends Flag 3 and then FINs the stream it could not dial; the flag names no
        // stream, so it is matched to the next stream that ends without having carried any data.
        refusal: () => {
          if (this.#pendingRefusals === 0) return undefined;
          this.#pendingRefusals -= 1;
          return connectFailed(this.destination);
        },
      });
    } else {
      this.#basic = new BasicForwarder(channel);
    }
    void channel.closed.then((end) => {
      const error = this.endError(end);
      this.#mux?.close(error);
      this.#basic?.close(error);
    });
  }

  get sessionId(): string {
    return this.#channel.sessionId;
  }

  /** Resolves when the session is over, for whatever reason. */
  get closed(): Promise<ChannelEnd> {
    return this.#channel.closed;
  }

  /** A new connection to the destination: an smux stream, or (basic mode) the single slot once free. */
  async connect(): Promise<Duplex> {
    if (this.#mux) return this.#mux.openStream();
    return (this.#basic as BasicForwarder).connect();
  }

  /** Ends the session the way the plugin does on Ctrl-C: Flag TerminateSession, else the API. */
  async terminate(): Promise<ChannelEnd> {
    if (this.mode.terminateWithFlag) {
      this.#channel.sendFlag(Flag.terminateSession);
      let timer: NodeJS.Timeout | undefined;
      const end = await Promise.race([
        this.#channel.closed,
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), this.#terminateWaitMs);
        }),
      ]).finally(() => clearTimeout(timer));
      if (end) return end;
      this.#log('no channel_closed after the TerminateSession flag; calling ssm:TerminateSession');
    }
    return this.#channel.terminate();
  }

  /** The error a finished session means for its connections, or undefined for a clean end. */
  endError(end: ChannelEnd): CoderdbError | undefined {
    // A basic-mode agent that cannot dial fails the whole session with this text (port_basic.go).
    if (end.output.includes('Unable to connect to specified port')) {
      return connectFailed(this.destination, summarize(end.output));
    }
    if (end.error) return end.error;
    if (end.reason === 'terminated' || end.reason === 'closed') return undefined;
    return connectionError('tunnel.session-ended', `the port-forwarding session ${this.sessionId} ended`, {
      hint: 'Session Manager ends idle sessions after 20 minutes; start the tunnel again',
    });
  }
}

/**
 * Basic mode: the data channel carries the raw bytes of one connection at a time. The agent dials
 * at session start and again on the first bytes after a DisconnectToPort, so once the first
 * connection is over, output that arrives before the next connection has sent anything can only
 * be the tail of an earlier connection and is dropped (the plugin would hand it to the new one).
 */
class BasicForwarder {
  readonly #channel: DataChannel;
  #current: BasicConnection | undefined;
  #waiting: Array<{ resolve: (connection: Duplex) => void; reject: (error: Error) => void }> = [];
  #served = 0;
  #error: Error | undefined;
  #closed = false;

  constructor(channel: DataChannel) {
    this.#channel = channel;
    // Paused until the first connection: the plugin leaves output unread (and the agent resends it)
    // until a local connection exists.
    channel.output.pause();
    channel.output.on('data', (data: Buffer) => {
      const current = this.#current;
      if (!current?.mayReceive) return;
      if (!current.push(data)) channel.output.pause();
    });
    channel.output.on('error', () => {});
  }

  connect(): Promise<Duplex> {
    if (this.#closed) return Promise.reject(this.#error ?? new Error('the port-forwarding session ended'));
    if (!this.#current) return Promise.resolve(this.#open());
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #open(): BasicConnection {
    this.#channel.output.resume();
    const connection = new BasicConnection(this, this.#served === 0);
    this.#served += 1;
    this.#current = connection;
    return connection;
  }

  write(chunk: Buffer, callback: (error?: Error | null) => void): void {
    this.#channel.input.write(chunk, callback);
  }

  wantMore(): void {
    this.#channel.output.resume();
  }

  /** The local side is done: tell the agent to drop its connection, then serve the next one. */
  release(connection: BasicConnection): void {
    if (connection !== this.#current) return;
    this.#current = undefined;
    this.#channel.output.resume();
    if (this.#closed) return;
    this.#channel.sendFlag(Flag.disconnectToPort);
    const next = this.#waiting.shift();
    if (next) next.resolve(this.#open());
  }

  close(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    const ended = error ?? new Error('the port-forwarding session ended');
    this.#current?.destroy(ended);
    for (const waiter of this.#waiting.splice(0)) waiter.reject(ended);
  }
}

class BasicConnection extends Duplex {
  /** Whether output may be the answer to this connection (see BasicForwarder). */
  mayReceive: boolean;
  readonly #forwarder: BasicForwarder;
  #inFlight = 0;
  #releaseWhenIdle = false;

  constructor(forwarder: BasicForwarder, first: boolean) {
    super({ allowHalfOpen: false });
    this.#forwarder = forwarder;
    this.mayReceive = first;
  }

  override _read(): void {
    this.#forwarder.wantMore();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.mayReceive = true;
    this.#inFlight += 1;
    this.#forwarder.write(chunk, (error) => {
      this.#inFlight -= 1;
      if (this.#releaseWhenIdle && this.#inFlight === 0) this.#forwarder.release(this);
      callback(error);
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // DisconnectToPort must follow every byte of this connection in the channel's sequence, or
    // the agent would re-dial for a straggler and feed it to a fresh server connection.
    if (this.#inFlight === 0) this.#forwarder.release(this);
    else this.#releaseWhenIdle = true;
    callback(error);
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}
