// coderdb tunnel: a port on 127.0.0.1 that leads to the database through the Coder task (SSM port
// forwarding), for laptop tools: psql, pgcli, DBeaver, pg_dump. Runs until Ctrl-C, then ends the
// session with TerminateSession and exits 0. Prints where to connect, never the password: the hint
// says how to fetch it into PGPASSWORD.

import type { Command } from 'commander';
import type { Profile } from '../../core/config.js';
import { usageError } from '../../core/errors.js';
import { scrub } from '../../core/secret.js';
import type { Tunnel } from '../../transport/tunnel.js';
import { outputFormat, say, withContext } from '../shared.js';

interface TunnelFlags {
  localPort?: string;
}

export function registerTunnel(program: Command): void {
  program
    .command('tunnel')
    .description(
      'forward a port on 127.0.0.1 to the database through the Coder task (SSM port forwarding) until Ctrl-C',
    )
    .option('--local-port <port>', 'port to listen on (default 0: a free one)')
    .addHelpText(
      'after',
      `
Needs ssm:StartSession on the task and on the AWS-StartPortForwardingSessionToRemoteHost document.
Examples:
  coderdb tunnel --local-port 6543
  psql "postgresql://coder@127.0.0.1:6543/coder?sslmode=require"`,
    )
    .action(async (flags: TunnelFlags, cmd: Command) => {
      const localPort = parsePort(flags.localPort);
      const json = outputFormat(cmd) === 'json';
      // Installed before the session exists, so that Ctrl-C while it opens still closes it.
      const stop = stopSignal();
      try {
        await withContext(cmd, async (context) => {
          const { openTunnel } = await import('../../transport/tunnel.js');
          const tunnel = await openTunnel(context.profile, context.aws, {
            localPort,
            // libpq clients verify the real host name themselves (hostaddr in the printed URL).
            verifyTlsInTunnel: false,
            onRefused: (error) => say(`coderdb: ${scrub(error.message)}`),
            ...(process.env.CODERDB_DEBUG ? { log: (line: string) => say(`[tunnel] ${scrub(line)}`) } : {}),
          });
          printReady(tunnel, context.profile, json);
          const outcome = await Promise.race([stop.requested.then(() => 'stop' as const), tunnel.ended]);
          if (outcome === 'stop') {
            say('Closing the tunnel…');
            await tunnel.close();
            say('The tunnel is closed.');
            return;
          }
          if (outcome.error) throw outcome.error;
        });
      } finally {
        stop.dispose();
      }
    });
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return 0;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) {
    throw usageError(
      'tunnel.port',
      `--local-port must be a port number (0–65535; 0 picks a free one), not "${text}"`,
    );
  }
  return port;
}

function printReady(tunnel: Tunnel, profile: Profile, json: boolean): void {
  const url = clientUrl(tunnel);
  const password = passwordHint(tunnel, profile);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        host: tunnel.target.host,
        port: tunnel.localPort,
        url,
        remote: `${tunnel.remote.host}:${tunnel.remote.port}`,
        task: tunnel.task.taskId,
        sessionId: tunnel.sessionId,
        mode: tunnel.mode,
        agentVersion: tunnel.agentVersion ?? null,
        password: password ?? null,
      })}\n`,
    );
    return;
  }
  const mode = tunnel.mode === 'mux' ? 'multiplexed' : 'one connection at a time (old SSM agent)';
  process.stdout.write(
    [
      `Listening on ${tunnel.target.host}:${tunnel.localPort} → ${tunnel.remote.host}:${tunnel.remote.port} through task ${tunnel.task.taskId}`,
      `  (SSM session ${tunnel.sessionId}, ${mode})`,
      '',
      `Connect:   psql '${url}'`,
      `Password:  ${password ?? 'none needed (the database URL has none)'}`,
      '',
      'Press Ctrl-C to close the tunnel.',
      '',
    ].join('\n'),
  );
}

/** A libpq URL for the local end, without the password; verify-full keeps checking the real name. */
export function clientUrl(tunnel: Tunnel): string {
  const database = tunnel.database;
  const verifyFull = database.sslmode === 'verify-full';
  const { host: _h, hostaddr: _a, port: _p, password: _w, sslmode: _s, ...params } = database.params;
  const url = new URL('postgresql://placeholder');
  url.hostname = verifyFull ? tunnel.remote.host : tunnel.target.host;
  url.port = String(tunnel.localPort);
  url.pathname = `/${encodeURIComponent(database.database)}`;
  url.username = encodeURIComponent(database.user);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  if (verifyFull) url.searchParams.set('hostaddr', tunnel.target.host);
  url.searchParams.set('sslmode', database.sslmode);
  return scrub(url.toString());
}

/** How to put the password into PGPASSWORD without coderdb printing it. */
function passwordHint(tunnel: Tunnel, profile: Profile): string | undefined {
  const { remote, database } = tunnel;
  const aws = `--region ${profile.region}${profile.awsProfile ? ` --profile ${profile.awsProfile}` : ''}`;
  if (profile.iamAuth) {
    return `export PGPASSWORD="$(aws rds generate-db-auth-token --hostname ${remote.host} --port ${remote.port} --username ${database.user} ${aws})"`;
  }
  if (!database.password) return undefined;
  // Reads a postgres:// URL (or RDS's JSON secret) on stdin and prints its password, decoded.
  const extract = `node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{s=s.trim();process.stdout.write(s[0]=="{"?JSON.parse(s).password:decodeURIComponent(new URL(s).password))})'`;
  if (profile.url)
    return 'export PGPASSWORD=<the password of the URL given with --url, CODERDB_URL or the profile>';
  if (process.env[profile.urlEnv])
    return `export PGPASSWORD="$(printf %s "$${profile.urlEnv}" | ${extract})"`;
  return `export PGPASSWORD="$(aws secretsmanager get-secret-value --secret-id ${profile.secretId} ${aws} --query SecretString --output text | ${extract})"`;
}

/**
 * SIGINT and SIGTERM end the tunnel cleanly instead of the CLI's default exit 130; a second one
 * while closing gives up at once.
 */
function stopSignal(): { requested: Promise<void>; dispose(): void } {
  const previous = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  let resolve!: () => void;
  const requested = new Promise<void>((done) => {
    resolve = done;
  });
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    if (signals > 1) {
      process.stderr.write('\ninterrupted\n');
      process.exit(130);
    }
    resolve();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    requested,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      for (const [signal, listeners] of Object.entries(previous)) {
        for (const listener of listeners) process.on(signal, listener as () => void);
      }
    },
  };
}
