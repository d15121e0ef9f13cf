// The tar that wraps a parallel (directory-format) backup: what we write, GNU tar reads back
// byte for byte, and what we read refuses damaged or dangerous archives.

import { execFileSync } from 'node:child_process';
import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractTar, listTar, tarHeader, writeTar } from '../../../src/ops/backup/tar.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coderdb-tar-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function pack(files: Record<string, Buffer>): Promise<string> {
  const source = join(dir, 'source');
  mkdirSync(source);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(source, name), content);
  const archive = join(dir, 'archive.tar');
  await writeTar(source, Object.keys(files), createWriteStream(archive));
  return archive;
}

describe('tar', () => {
  const files = {
    'toc.dat': Buffer.from('PGDMP toc'),
    '3773.dat.gz': Buffer.from(Array.from({ length: 70_000 }, (_, index) => index % 251)),
    'empty.dat.gz': Buffer.alloc(0),
    '512.dat': Buffer.alloc(512, 1),
  };

  it('round-trips a flat directory, in order, readable by GNU tar', async () => {
    const archive = await pack(files);
    const members = await listTar(archive);
    expect(members.map((member) => [member.name, member.size])).toEqual(
      Object.entries(files).map(([name, content]) => [name, content.length]),
    );
    const out = join(dir, 'out');
    mkdirSync(out);
    await extractTar(archive, members, out);
    for (const [name, content] of Object.entries(files)) {
      expect(readFileSync(join(out, name)).equals(content)).toBe(true);
    }
    const gnu = join(dir, 'gnu');
    mkdirSync(gnu);
    execFileSync('tar', ['-xf', archive, '-C', gnu]);
    expect(readFileSync(join(gnu, '3773.dat.gz')).equals(files['3773.dat.gz'])).toBe(true);
    expect(execFileSync('tar', ['-tf', archive], { encoding: 'utf8' }).trim().split('\n')).toEqual(
      Object.keys(files),
    );
  });

  it('refuses a truncated archive', async () => {
    const archive = await pack(files);
    truncateSync(archive, 30_000);
    await expect(listTar(archive)).rejects.toMatchObject({ code: 'backup.bad-archive' });
  });

  it('refuses a damaged header', async () => {
    const archive = await pack(files);
    const bytes = readFileSync(archive);
    bytes[10] = bytes[10]! ^ 0xff;
    writeFileSync(archive, bytes);
    await expect(listTar(archive)).rejects.toMatchObject({ code: 'backup.bad-archive' });
  });

  it('never writes or reads a name that could leave the directory', async () => {
    expect(() => tarHeader('../evil', 1, 0)).toThrow();
    expect(() => tarHeader('a/b', 1, 0)).toThrow();
    const archive = join(dir, 'evil.tar');
    const header = tarHeader('xevil', 1, 0);
    header.write('../evil', 0, 'utf8');
    // recompute the checksum so only the name is wrong
    header.write('        ', 148, 'ascii');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    writeFileSync(archive, Buffer.concat([header, Buffer.alloc(512, 0), Buffer.alloc(1024, 0)]));
    await expect(listTar(archive)).rejects.toMatchObject({ code: 'backup.bad-archive' });
  });

  it('writes sizes beyond 8 GiB in base-256 and reads them back', async () => {
    const size = 9 * 1024 ** 3 + 5;
    const header = tarHeader('big.dat.gz', size, 0);
    expect(header[124]).toBe(0x80);
    const archive = join(dir, 'big.tar');
    // A sparse file: the header, then the member's bytes (zeros), then the end blocks.
    writeFileSync(archive, header);
    const total = 512 + size + ((512 - (size % 512)) % 512) + 1024;
    truncateSync(archive, total);
    const members = await listTar(archive);
    expect(members).toEqual([{ name: 'big.dat.gz', size, offset: 512 }]);
  });
});
