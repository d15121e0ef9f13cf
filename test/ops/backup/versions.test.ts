// Version rules and the install hints that replace pg_dump's terse refusals.

import { describe, expect, it } from 'vitest';
import {
  checkDumpVersion,
  checkRestoreVersion,
  installHint,
  parseServerMismatch,
  parseToolVersion,
  parseUnsupportedArchive,
  platformOf,
  serverMajor,
} from '../../../src/ops/backup/versions.js';

describe('versions', () => {
  it('parses client versions as the tools print them', () => {
    expect(parseToolVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n')).toMatchObject({
      major: 15,
      version: '15.18',
    });
    expect(parseToolVersion('pg_restore (PostgreSQL) 16.4')?.major).toBe(16);
    expect(parseToolVersion('pg_dump (PostgreSQL) 9.6.24')).toMatchObject({ major: 9.6, version: '9.6.24' });
    expect(parseToolVersion('sh: pg_dump: not found')).toBeUndefined();
    expect(serverMajor(180006)).toBe(18);
    expect(serverMajor(90624)).toBe(9.6);
  });

  it('refuses a pg_dump older than the server and names the package for the platform', () => {
    const tool = parseToolVersion('pg_dump (PostgreSQL) 15.18')!;
    expect(() =>
      checkDumpVersion({
        tool,
        serverVersionNum: 150004,
        serverVersion: '15.4',
        where: 'local',
        platform: 'debian',
      }),
    ).not.toThrow();
    const error = (() => {
      try {
        checkDumpVersion({
          tool,
          serverVersionNum: 180006,
          serverVersion: '18.6',
          where: 'container',
          platform: 'alpine',
        });
      } catch (caught) {
        return caught as { code: string; message: string; hint: string };
      }
      throw new Error('expected a refusal');
    })();
    expect(error.code).toBe('backup.version-mismatch');
    expect(error.message).toContain(
      'pg_dump 15.18 in the container is older than the server (PostgreSQL 18.6)',
    );
    expect(error.hint).toContain('postgresql18-client');
    expect(installHint(17, 'debian')).toContain('postgresql-client-17');
    expect(platformOf('ubuntu')).toBe('debian');
    expect(platformOf('alpine')).toBe('alpine');
  });

  it('refuses a pg_restore older than the pg_dump that wrote the archive', () => {
    const tool = parseToolVersion('pg_restore (PostgreSQL) 15.18')!;
    expect(() =>
      checkRestoreVersion({ tool, archiveDumpVersion: '15.2', where: 'local', platform: 'debian' }),
    ).not.toThrow();
    expect(() =>
      checkRestoreVersion({
        tool,
        archiveDumpVersion: '16.4 (Debian 16.4-1)',
        where: 'local',
        platform: 'debian',
      }),
    ).toThrow(/older than the pg_dump that wrote the archive/);
  });

  it("reads pg_dump's and pg_restore's own refusals", () => {
    expect(
      parseServerMismatch(
        'pg_dump: error: aborting because of server version mismatch\npg_dump: detail: server version: 18.6; pg_dump version: 15.18 (Debian 15.18-0+deb12u1)\n',
      ),
    ).toEqual({ server: '18.6', tool: '15.18 (Debian 15.18-0+deb12u1)' });
    expect(parseUnsupportedArchive('pg_restore: error: unsupported version (1.16) in file header')).toBe(
      '1.16',
    );
  });
});
