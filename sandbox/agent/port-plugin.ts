// The emulated agent's Port plugin (AGENT plugins/port/port.go) behind an SSM port-forwarding
// session: the handshake Properties it announces, the check of its parameters, the choice between
// the multiplexed and the basic session from the agent's and the client's versions (§7.1, agent
// column; an agent claiming a version from before smux support never multiplexes), and routing the
// client's Output and Flag messages to the session.

import { Flag, PayloadType, parseFlag } from '../../src/ssm/codec.js';
import { pluginFailureOutput } from './command.js';
import { BasicPort, type PortInput } from './port-basic.js';
import { dialDestination, type PortDestination } from './port-destination.js';
import { MuxServer } from './port-mux.js';
import { OutputPump, type PortSink } from './port-output.js';
import type { Pacing } from './pty-process.js';

export const LOCAL_PORT_FORWARDING = 'LocalPortForwarding';

/** port.go muxSupportedClientVersion / muxKeepAliveDisabledAfterThisClientVersion. */
const MUX_CLIENT_VERSION = '1.1.70';
const KEEPALIVE_OFF_AFTER_CLIENT_VERSION = '1.2.331.0';
/** Agents up to these versions predate smux, and then the keepalive switch (plugin config.go). */
const MUX_AFTER_AGENT_VERSION = '3.0.196.0';
const KEEPALIVE_SWITCH_AFTER_AGENT_VERSION = '3.1.1511.0';
/** The instance metadata service; port.go refuses to forward to it. */
const DENIED_HOSTS = ['169.254.169.254', 'fd00:ec2::254'];

export interface PortPluginSettings {
  /** StartSession Parameters: host, portNumber, localPortNumber. */
  parameters: Record<string, string[]>;
  agentVersion: string;
  clientVersion: string | undefined;
  pacing: Pacing;
  destination: PortDestination;
  sink: PortSink;
  log: (line: string) => void;
}

/** The document's `properties` with the parameters substituted: the handshake's Properties. */
export function portProperties(parameters: Record<string, string[]>): Record<string, string> {
  const host = parameters.host?.[0];
  return {
    portNumber: parameters.portNumber?.[0] ?? '80',
    type: LOCAL_PORT_FORWARDING,
    ...(host !== undefined ? { host } : {}),
    localPortNumber: parameters.localPortNumber?.[0] ?? '0',
  };
}

/** versionutil.Compare (component by component; numbers as numbers; fewer components is less). */
export function compareAgentVersions(a: string, b: string): number {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < x.length && i < y.length; i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    const numeric = /^[+-]?\d+$/.test(p) && /^[+-]?\d+$/.test(q);
    const order = numeric ? Math.sign(Number(p) - Number(q)) : p < q ? -1 : p > q ? 1 : 0;
    if (order !== 0) return order;
  }
  return x.length - y.length;
}

export function agentPortMode(
  agentVersion: string,
  clientVersion: string | undefined,
): { mux: boolean; keepAlive: boolean } {
  const client = clientVersion ?? '';
  const mux =
    compareAgentVersions(agentVersion, MUX_AFTER_AGENT_VERSION) > 0 &&
    compareAgentVersions(client, MUX_CLIENT_VERSION) >= 0;
  const canDisableKeepAlive = compareAgentVersions(agentVersion, KEEPALIVE_SWITCH_AFTER_AGENT_VERSION) > 0;
  return {
    mux,
    keepAlive: !(canDisableKeepAlive && compareAgentVersions(client, KEEPALIVE_OFF_AFTER_CLIENT_VERSION) > 0),
  };
}

export class PortPlugin {
  readonly #settings: PortPluginSettings;
  readonly #pump: OutputPump;
  #mux: MuxServer | undefined;
  #basic: BasicPort | undefined;
  #stopped = false;

  constructor(settings: PortPluginSettings) {
    this.#settings = settings;
    this.#pump = new OutputPump(settings.sink, settings.pacing);
  }

  /** Execute: validate, pick the session kind, and (basic) make the first connection. */
  async start(): Promise<void> {
    const { parameters, sink, log, pacing, destination } = this.#settings;
    const properties = portProperties(parameters);
    const port = Number(properties.portNumber);
    const host = properties.host ?? '';
    if (!properties.portNumber) {
      sink.finish(pluginFailureOutput('Port number is empty in session properties.'));
      return;
    }
    if (DENIED_HOSTS.includes(host)) {
      sink.finish(pluginFailureOutput(`Forwarding to IP address ${host} is forbidden.`));
      return;
    }
    const dial = () => dialDestination(destination, host, port, pacing);
    const mode = agentPortMode(this.#settings.agentVersion, this.#settings.clientVersion);
    log(
      `port session to ${host || 'localhost'}:${port}: ${mode.mux ? 'mux' : 'basic'}${mode.mux && mode.keepAlive ? ' with keepalive' : ''}`,
    );
    if (mode.mux) {
      this.#mux = new MuxServer({ dial, sink, pump: this.#pump, keepAlive: mode.keepAlive, log });
    } else {
      const basic = new BasicPort({ dial, sink, pump: this.#pump, log });
      this.#basic = basic;
      await basic.start();
    }
  }

  /** InputStreamMessageHandler: not ready (unacknowledged, resent) until the session is set up. */
  async input(payloadType: number, payload: Buffer): Promise<PortInput> {
    if (this.#stopped) return 'ok';
    if (!this.#mux && !this.#basic) return 'not-ready';
    if (payloadType === PayloadType.output) {
      if (this.#mux) {
        this.#mux.input(payload);
        return 'ok';
      }
      return (this.#basic as BasicPort).output(payload);
    }
    if (payloadType === PayloadType.flag) {
      let value: number;
      try {
        value = parseFlag(payload);
      } catch {
        return 'error';
      }
      if (this.#basic) return this.#basic.flag(value);
      // port_mux.go acts on TerminateSession only.
      if (value === Flag.terminateSession) this.#settings.sink.finish('');
    }
    return 'ok';
  }

  stop(): void {
    this.#stopped = true;
    this.#pump.stop();
    this.#mux?.stop();
    this.#basic?.stop();
  }
}
