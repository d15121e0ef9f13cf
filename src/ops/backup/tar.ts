// A minimal ustar writer and reader for one flat directory: how a parallel backup (pg_dump's
// directory format, one file per table) becomes a single archive file, and back into a directory
// for pg_restore. Members larger than 8 GiB use the GNU base-256 size field, which GNU tar, BSD tar
// and BusyBox tar all read. Names are checked on the way in and out: a member can never land
// outside the directory it is extracted to.

import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { usageError } from '../../core/errors.js';

const BLOCK = 512;
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;
const OCTAL_SIZE_LIMIT = 8 ** 11;

export interface TarMember {
  name: string;
  size: number;
  /** Offset of the member's data in the tar file. */
  offset: number;
}

export function isSafeMemberName(name: string): boolean {
  return SAFE_NAME.test(name) && name !== '.' && name !== '..';
}

export function tarHeader(name: string, size: number, mtime: number): Buffer {
  if (!isSafeMemberName(name)) throw new Error(`unsafe tar member name: ${name}`);
  const header = Buffer.alloc(BLOCK, 0);
  header.write(name, 0, 100, 'utf8');
  header.write('0000600\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  writeSize(header, size);
  header.write(`${Math.max(0, Math.trunc(mtime)).toString(8).padStart(11, '0')}\0`, 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return header;
}

function writeSize(header: Buffer, size: number): void {
  if (size < OCTAL_SIZE_LIMIT) {
    header.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    return;
  }
  // GNU base-256: high bit of the first byte set, big-endian binary in the remaining 11 bytes.
  let value = BigInt(size);
  for (let index = 135; index > 124; index--) {
    header[index] = Number(value & 0xffn);
    value >>= 8n;
  }
  header[124] = 0x80;
}

function readSize(header: Buffer): number {
  if ((header[124]! & 0x80) !== 0) {
    let value = 0n;
    for (let index = 125; index < 136; index++) value = (value << 8n) | BigInt(header[index]!);
    return Number(value);
  }
  return Number.parseInt(header.toString('ascii', 124, 136).replace(/\0.*$/, '').trim() || '0', 8);
}

function checksumOk(header: Buffer): boolean {
  const stored = Number.parseInt(header.toString('ascii', 148, 156).replace(/\0.*$/, '').trim(), 8);
  let sum = 0;
  for (let index = 0; index < BLOCK; index++) sum += index >= 148 && index < 156 ? 32 : header[index]!;
  return stored === sum;
}

export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest, 0);
}

/** Writes `names` (files in `dir`, in this order) as a tar stream into `out`, which it ends. */
export async function writeTar(dir: string, names: string[], out: Writable): Promise<void> {
  const write = async (bytes: Buffer) => {
    if (!out.write(bytes)) await once(out, 'drain');
  };
  const mtime = Date.now() / 1000;
  for (const name of names) {
    const path = join(dir, name);
    const size = (await stat(path)).size;
    await write(tarHeader(name, size, mtime));
    let copied = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      copied += (chunk as Buffer).length;
      await write(chunk as Buffer);
    }
    if (copied !== size) throw new Error(`${path} changed size while it was being packed`);
    await write(padding(size));
  }
  await write(Buffer.alloc(BLOCK * 2, 0));
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
}

/** The members of a tar file, checked (checksums, safe names, regular files, bounds). */
export async function listTar(path: string): Promise<TarMember[]> {
  const handle = await open(path, 'r');
  try {
    const total = (await handle.stat()).size;
    const members: TarMember[] = [];
    const header = Buffer.alloc(BLOCK);
    let position = 0;
    for (;;) {
      if (position + BLOCK > total) throw badTar(path, 'it ends without the end-of-archive blocks');
      const { bytesRead } = await handle.read(header, 0, BLOCK, position);
      if (bytesRead < BLOCK) throw badTar(path, 'it is cut short');
      if (header.every((byte) => byte === 0)) break;
      if (!checksumOk(header)) throw badTar(path, `the header at byte ${position} is damaged`);
      const name = header.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      const type = String.fromCharCode(header[156] || 48);
      if (type !== '0') throw badTar(path, `member "${name}" is not a regular file`);
      if (!isSafeMemberName(name)) throw badTar(path, `member name "${name}" is not allowed`);
      const size = readSize(header);
      const offset = position + BLOCK;
      if (offset + size > total) throw badTar(path, `member "${name}" is cut short`);
      members.push({ name, size, offset });
      position = offset + size + padding(size).length;
    }
    return members;
  } finally {
    await handle.close();
  }
}

/** Copies members into `dir` (which must exist). */
export async function extractTar(path: string, members: TarMember[], dir: string): Promise<void> {
  for (const member of members) {
    if (!isSafeMemberName(member.name)) throw badTar(path, `member name "${member.name}" is not allowed`);
    const target = join(dir, member.name);
    if (member.size === 0) {
      await (await open(target, 'wx', 0o600)).close();
      continue;
    }
    await pipeline(
      createReadStream(path, { start: member.offset, end: member.offset + member.size - 1 }),
      createWriteStream(target, { flags: 'wx', mode: 0o600 }),
    );
  }
}

/** A read stream over one member's bytes. */
export function memberStream(path: string, member: TarMember): Readable {
  return member.size === 0
    ? Readable.from([])
    : createReadStream(path, { start: member.offset, end: member.offset + member.size - 1 });
}

function badTar(path: string, why: string) {
  return usageError('backup.bad-archive', `${path} is not a valid backup archive: ${why}`, {
    hint: 'the file is damaged or truncated; use another backup',
  });
}
