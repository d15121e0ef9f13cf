// Turns an ExecuteCommand string into what the agent would exec inside the container, and the
// errors it would report when it cannot: google/shlex splitting, Go's exec.LookPath against the
// container's PATH, and the exact text the agent's failure path produces (§6.2, AGENT shell.go).

import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ShlexError, shlexSplit } from './shlex.js';

/** The "container" a sandbox session runs in: its environment, PATH and working directory. */
export interface ContainerEnvironment {
  env?: Record<string, string>;
  /** Overrides env.PATH, so a scenario can offer a PATH with or without psql. */
  path?: string[];
  cwd?: string;
}

/** Docker's default PATH for images that do not set one. */
export const DEFAULT_CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The agent's iohandler frames plugin errors with this banner; MGS relays it in channel_closed. */
export const PLUGIN_ERROR_BANNER = '\n----------ERROR-------\n';

export interface ResolvedCommand {
  /** Absolute path to exec. */
  executable: string;
  /** argv without argv[0]. */
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export type CommandResolution = { ok: true; command: ResolvedCommand } | { ok: false; failure: string };

/**
 * The environment the agent gives the child: the container's, plus TERM=xterm-256color, plus
 * LANG=C.UTF-8 when LANG is unset. HOME falls back to the sandbox user's home because the commands
 * really run on this machine.
 */
export function containerEnv(container: ContainerEnvironment): Record<string, string> {
  const env: Record<string, string> = { ...container.env };
  if (container.path) env.PATH = container.path.join(':');
  if (!env.PATH) env.PATH = DEFAULT_CONTAINER_PATH;
  if (!env.HOME) env.HOME = homedir();
  env.TERM = 'xterm-256color';
  if (!env.LANG) env.LANG = 'C.UTF-8';
  return env;
}

function isExecutableFile(path: string): 'ok' | 'missing' | 'denied' {
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) return 'denied';
    return (stats.mode & 0o111) !== 0 ? 'ok' : 'denied';
  } catch {
    return 'missing';
  }
}

/** Go exec.LookPath semantics; the error strings are Go's. */
function lookPath(file: string, pathVariable: string, cwd: string): { path: string } | { error: string } {
  if (file.includes('/')) {
    const status = isExecutableFile(resolve(cwd, file));
    if (status === 'missing') return { error: `fork/exec ${file}: no such file or directory` };
    if (status === 'denied') return { error: `fork/exec ${file}: permission denied` };
    return { path: resolve(cwd, file) };
  }
  for (const dir of pathVariable.split(':')) {
    const candidate = join(dir === '' ? '.' : dir, file);
    if (isExecutableFile(resolve(cwd, candidate)) === 'ok') return { path: resolve(cwd, candidate) };
  }
  return { error: `exec: "${file}": executable file not found in $PATH` };
}

/** The channel_closed Output of a session whose plugin failed with `message`. */
export function pluginFailureOutput(message: string): string {
  return PLUGIN_ERROR_BANNER + message;
}

export function resolveCommand(commandLine: string, container: ContainerEnvironment): CommandResolution {
  let words: string[];
  try {
    // An empty command starts `sh`, as the agent does.
    words = commandLine.trim() === '' ? ['sh'] : shlexSplit(commandLine);
  } catch (error) {
    const reason = error instanceof ShlexError ? error.message : String(error);
    return { ok: false, failure: `Unable to start command: Failed to parse commands input: ${reason}\n\n` };
  }
  const [file, ...args] = words;
  if (file === undefined) return { ok: false, failure: 'Unable to start command: no command\n\n' };
  const env = containerEnv(container);
  const cwd = container.cwd ?? '/';
  const found = lookPath(file, env.PATH ?? '', cwd);
  if ('error' in found) {
    return { ok: false, failure: `Unable to start command: Failed to start pty: ${found.error}\n\n` };
  }
  return { ok: true, command: { executable: found.path, args, env, cwd } };
}
