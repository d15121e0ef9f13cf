// Where coderdb keeps its files, following the XDG base-directory convention so that tests and
// users can move everything with XDG_CONFIG_HOME / XDG_STATE_HOME / XDG_DATA_HOME.

import { homedir } from 'node:os';
import { join } from 'node:path';

function xdg(variable: string, fallback: string): string {
  const value = process.env[variable];
  return value?.startsWith('/') ? value : join(homedir(), fallback);
}

export const paths = {
  configFile: () => join(xdg('XDG_CONFIG_HOME', '.config'), 'coderdb', 'config.json'),
  stateDir: () => join(xdg('XDG_STATE_HOME', '.local/state'), 'coderdb'),
  auditLog: () => join(paths.stateDir(), 'audit.jsonl'),
  undoDir: () => join(paths.stateDir(), 'undo'),
  sandboxDir: () => join(paths.stateDir(), 'sandbox'),
  sandboxState: () => join(paths.sandboxDir(), 'state.json'),
  backupDir: () => join(xdg('XDG_DATA_HOME', '.local/share'), 'coderdb', 'backups'),
  cacheDir: () => join(xdg('XDG_CACHE_HOME', '.cache'), 'coderdb'),
};
