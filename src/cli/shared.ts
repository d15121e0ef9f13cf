// What every command needs from the global flags: the effective profile, a context, the output
// format. Kept free of heavy imports; operations are loaded by the commands that use them.

import type { Command } from 'commander';
import { type LoadOptions, loadProfile, type Profile, type ProfileOverrides } from '../core/config.js';
import { usageError } from '../core/errors.js';
import { FORMATS, type Format } from '../core/output/formats.js';
import { Sink } from '../core/output/sink.js';

export interface GlobalOptions {
  profile?: string;
  config?: string;
  url?: string;
  transport?: string;
  region?: string;
  cluster?: string;
  service?: string;
  container?: string;
  task?: string;
  secretId?: string;
  awsProfile?: string;
  iamAuth?: boolean;
  installClient?: boolean;
  format?: string;
  showSecrets?: boolean;
  verbose?: boolean;
  /** false with --no-reuse: no warm session (coderdb connect) for this command. */
  reuse?: boolean;
}

export function globals(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

export function profileOptions(options: GlobalOptions): LoadOptions {
  const overrides: ProfileOverrides = {
    url: options.url,
    transport: options.transport,
    region: options.region,
    cluster: options.cluster,
    service: options.service,
    container: options.container,
    task: options.task,
    secretId: options.secretId,
    awsProfile: options.awsProfile,
    iamAuth: options.iamAuth,
    installClient: options.installClient,
  };
  return {
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.config ? { configFile: options.config } : {}),
    overrides,
  };
}

export function resolveProfile(command: Command): Profile {
  return loadProfile(profileOptions(globals(command)));
}

export async function withContext<T>(
  command: Command,
  work: (context: import('../context.js').CoderdbContext) => Promise<T>,
): Promise<T> {
  const [{ createContext }, { interruption }] = await Promise.all([
    import('../context.js'),
    import('./interrupt.js'),
  ]);
  const profile = resolveProfile(command);
  const context = createContext({
    resolvedProfile: profile,
    signal: interruption,
    reuseWarmSession: globals(command).reuse !== false && !CHECKS_OWN_PATH.has(commandPath(command)),
  });
  if (process.stderr.isTTY || globals(command).verbose) {
    const { announceOnce } = await import('./context-line.js');
    const color = Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
    context.onSessionOpen = announceOnce(profile, context.identity, (line) => say(line), color);
  }
  try {
    return await work(context);
  } catch (error) {
    // Every refusal reaches the audit log; the operations log theirs with the statement, this
    // catches the rest (a protected target, a refused confirmation …) with the command's name.
    const { recordRefusal } = await import('../ops/db.js');
    recordRefusal(context, { command: commandPath(command) }, error);
    throw error;
  } finally {
    // The command's records go to the shared trail (if any) in one batch; a failure is a warning.
    await context.audit.settle();
    context.dispose();
  }
}

/** Commands that check the path a command takes on its own, so never a warm session's. */
const CHECKS_OWN_PATH = new Set(['doctor']);

/** `templates set-description`, `query`: the command as typed, without the program's name. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent)
    names.unshift(current.name());
  return names.join(' ');
}

export function outputFormat(command: Command): Format {
  const format = globals(command).format ?? 'table';
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw usageError('cli.format', `unknown format "${format}"`, {
      hint: `use one of ${FORMATS.join(', ')}`,
    });
  }
  return format as Format;
}

export const stdout = () => new Sink(process.stdout);

/** Messages for people go to stderr, so stdout carries only results. */
export function say(message: string): void {
  process.stderr.write(`${message}\n`);
}

let exitStatus = 0;

/** For commands whose success is not all-or-nothing (doctor, sandbox demo). */
export function setExitStatus(code: number): void {
  exitStatus = code;
}

export function takeExitStatus(): number {
  const code = exitStatus;
  exitStatus = 0;
  return code;
}
