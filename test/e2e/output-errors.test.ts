// Output that cannot be written (a full disk) ends coderdb with one line and status 74, never a
// stack trace.

import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, createHome } from '../helpers/cli.js';

describe('unwritable output', () => {
  it.each([[['--version']], [['--help']], [['config', 'show']]])('coderdb %j > /dev/full', (args) => {
    const home = createHome();
    const full = openSync('/dev/full', 'w');
    try {
      const result = spawnSync(process.execPath, [CLI, ...args], {
        env: home.env,
        stdio: ['ignore', full, 'pipe'],
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(result.status).toBe(74);
      expect(result.stderr).toBe(
        'coderdb: cannot write the output: ENOSPC: no space left on device, write\n',
      );
    } finally {
      closeSync(full);
      home.remove();
    }
  });
});
