// Archives appear whole or not at all: a committed file has its companion written first and never
// replaces an existing one; an aborted or exited run leaves no temporary file behind.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AtomicFile } from '../../../src/ops/backup/atomic-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'coderdb-atomic-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const write = (file: AtomicFile, text: string) =>
  new Promise<void>((done, fail) => file.stream.write(text, (error) => (error ? fail(error) : done())));

describe('AtomicFile', () => {
  it('is invisible under its final name until commit, which runs the hook first', async () => {
    const file = AtomicFile.create(dir, 'a.dump');
    await write(file, 'PGDMP data');
    expect(readdirSync(dir)).toEqual([expect.stringMatching(/^\.a\.dump\.partial-/)]);
    const final = join(dir, 'a.dump');
    await file.commit(final, async () => {
      expect(existsSync(final)).toBe(false);
      writeFileSync(`${final}.manifest.json`, '{}');
    });
    expect(readFileSync(final, 'utf8')).toBe('PGDMP data');
    expect(readdirSync(dir).sort()).toEqual(['a.dump', 'a.dump.manifest.json']);
  });

  it('never replaces an existing file, and abort removes the temporary one', async () => {
    const final = join(dir, 'taken.dump');
    writeFileSync(final, 'older backup');
    const file = AtomicFile.create(dir, 'taken.dump');
    await write(file, 'new');
    await expect(file.commit(final)).rejects.toMatchObject({ code: 'EEXIST' });
    await file.abort();
    expect(readFileSync(final, 'utf8')).toBe('older backup');
    expect(readdirSync(dir)).toEqual(['taken.dump']);
  });

  it('removes the temporary file when the process exits mid-write (Ctrl-C exits at once)', () => {
    const module = resolve(import.meta.dirname, '../../../src/ops/backup/atomic-file.ts');
    const script = `import { AtomicFile } from ${JSON.stringify(module)};
      const file = AtomicFile.create(${JSON.stringify(dir)}, 'b.dump');
      file.stream.write('partial', () => process.exit(130));`;
    try {
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: 'pipe',
      });
    } catch (error) {
      expect((error as { status: number }).status).toBe(130);
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});
