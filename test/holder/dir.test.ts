// The holder directory's checks on real directories and sockets, the key that decides which
// commands may share a holder, and the duration flags.

import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadProfile } from '../../src/core/config.js';
import { checkPrivate, holderDir, holderKey, privateHolderDir } from '../../src/holder/dir.js';
import { formatDuration, parseDuration } from '../../src/holder/duration.js';

describe('the holder directory', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'coderdb-holder-dir-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is created 0700 under $XDG_RUNTIME_DIR and accepted', () => {
    const dir = holderDir({ XDG_RUNTIME_DIR: root });
    expect(dir).toBe(join(root, 'coderdb'));
    privateHolderDir(dir);
    expect(() => checkPrivate(dir, 'directory')).not.toThrow();
  });

  it('refuses a directory others may enter, and a symbolic link to one', () => {
    const open = join(root, 'open');
    mkdirSync(open, { mode: 0o700 });
    chmodSync(open, 0o750);
    expect(() => privateHolderDir(open)).toThrow(/has mode 0750; others may enter it/);
    const link = join(root, 'link');
    symlinkSync(open, link);
    expect(() => checkPrivate(link, 'directory')).toThrow(/is not a directory/);
  });

  it('accepts only a socket as a socket', async () => {
    const path = join(root, 's.ctl');
    const server: Server = await new Promise((resolve) => {
      const listening = createServer().listen(path, () => resolve(listening));
    });
    try {
      expect(() => checkPrivate(path, 'socket')).not.toThrow();
      expect(() => checkPrivate(root, 'socket')).toThrow(/is not a socket/);
    } finally {
      server.close();
    }
  });
});

describe('the holder key', () => {
  const profile = loadProfile({ overrides: { region: 'eu-west-1' } });

  it('differs by AWS identity source, region and task, and holds no secret', () => {
    const base = holderKey(profile, {});
    expect(holderKey(profile, {})).toBe(base);
    expect(holderKey(profile, { AWS_PROFILE: 'other' })).not.toBe(base);
    expect(holderKey(profile, { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' })).not.toBe(base);
    expect(holderKey({ ...profile, region: 'us-east-1' }, {})).not.toBe(base);
    expect(holderKey({ ...profile, task: 'abc' }, {})).not.toBe(base);
    expect(base).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
  ])('%s', (text, ms) => {
    expect(parseDuration(text, '--for')).toBe(ms);
  });

  it.each(['', '30', 'm', '0s', '1d', '-5m', '5 m'])('refuses %j', (text) => {
    expect(() => parseDuration(text, '--for')).toThrow(/--for takes a duration/);
  });

  it('formats', () => {
    expect([2_000, 90_000, 900_000, 5_400_000, 3_600_000].map(formatDuration)).toEqual([
      '2s',
      '1m30s',
      '15m',
      '1h30m',
      '1h',
    ]);
  });
});
