// PostgreSQL version rules for dump and restore, and what to install when they are not met. pg_dump
// refuses a server newer than itself and pg_restore cannot read archives from a newer pg_dump; both
// fail with terse messages far from the fix, so coderdb checks first and names the package.

import { type CoderdbError, usageError } from '../../core/errors.js';

export interface ToolVersion {
  /** 15 for 15.18; 9.6 for 9.6.24. */
  major: number;
  /** 15.18 */
  version: string;
  /** The whole first line, e.g. `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`. */
  text: string;
}

/** Parses the first line of `pg_dump --version` / `pg_restore --version` / `psql --version`. */
export function parseToolVersion(text: string): ToolVersion | undefined {
  const line = text.split(/\r?\n/).find((candidate) => candidate.trim() !== '') ?? '';
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(line) ?? /\b(\d+)\.(\d+)/.exec(line);
  if (!match) return undefined;
  const first = Number(match[1]);
  const second = match[2] === undefined ? undefined : Number(match[2]);
  const major = first >= 10 || second === undefined ? first : Number(`${first}.${second}`);
  const version = [match[1], match[2], match[3]].filter((part) => part !== undefined).join('.');
  return { major, version, text: line.trim() };
}

/** server_version_num (150018) → 15; 90624 → 9.6. */
export function serverMajor(versionNum: number): number {
  if (versionNum >= 100_000) return Math.floor(versionNum / 10_000);
  return Math.floor(versionNum / 10_000) + Math.floor((versionNum % 10_000) / 100) / 10;
}

/** `Dumped by pg_dump version: 16.4 (…)` or a manifest's pgDump.version → its major. */
export function majorOf(version: string): number | undefined {
  return parseToolVersion(`x (PostgreSQL) ${version}`)?.major;
}

export type Platform = 'debian' | 'alpine' | 'redhat' | 'macos' | 'unknown';

/** Maps an /etc/os-release ID (or process.platform) to the package family. */
export function platformOf(osId: string | undefined): Platform {
  const id = (osId ?? '').toLowerCase();
  if (/^(debian|ubuntu|raspbian|linuxmint|pop)/.test(id)) return 'debian';
  if (id.startsWith('alpine')) return 'alpine';
  if (/^(rhel|centos|fedora|rocky|almalinux|amzn|ol)/.test(id)) return 'redhat';
  if (id === 'darwin' || id === 'macos') return 'macos';
  return 'unknown';
}

/** How to get the client tools of one major version on a platform. */
export function installHint(major: number, platform: Platform): string {
  switch (platform) {
    case 'debian':
      return `install postgresql-client-${major} (apt-get install postgresql-client-${major}; from apt.postgresql.org if the distribution does not ship ${major})`;
    case 'alpine':
      return `install postgresql${major}-client (apk add postgresql${major}-client)`;
    case 'redhat':
      return `install postgresql${major} from the PGDG repository (dnf install postgresql${major})`;
    case 'macos':
      return `install postgresql@${major} (brew install postgresql@${major}) and put its bin directory on PATH`;
    default:
      return `install the PostgreSQL ${major} client tools (pg_dump, pg_restore)`;
  }
}

export interface DumpCheck {
  tool: ToolVersion;
  serverVersionNum: number;
  serverVersion: string;
  where: 'local' | 'container';
  platform: Platform;
}

/** pg_dump must be at least the server's major version. */
export function checkDumpVersion(check: DumpCheck): void {
  const server = serverMajor(check.serverVersionNum);
  if (check.tool.major >= server) return;
  throw versionMismatch(
    `pg_dump ${check.tool.version} ${check.where === 'container' ? 'in the container' : 'on this machine'} is older than the server (PostgreSQL ${check.serverVersion}); pg_dump refuses to dump a newer server`,
    server,
    check,
  );
}

export interface RestoreCheck {
  tool: ToolVersion;
  /** The pg_dump version that wrote the archive, when known (manifest or pg_restore -l). */
  archiveDumpVersion: string | undefined;
  where: 'local' | 'container';
  platform: Platform;
}

/** pg_restore must be at least as new as the pg_dump that wrote the archive. */
export function checkRestoreVersion(check: RestoreCheck): void {
  const needed = check.archiveDumpVersion ? majorOf(check.archiveDumpVersion) : undefined;
  if (needed === undefined || check.tool.major >= needed) return;
  throw versionMismatch(
    `pg_restore ${check.tool.version} ${check.where === 'container' ? 'in the container' : 'on this machine'} is older than the pg_dump that wrote the archive (${check.archiveDumpVersion}) and cannot read it`,
    needed,
    check,
  );
}

function versionMismatch(
  message: string,
  needed: number,
  check: { where: 'local' | 'container'; platform: Platform },
): CoderdbError {
  const other =
    check.where === 'container'
      ? 'or run it from this machine with --transport direct or tunnel'
      : 'or run it inside the task with --transport exec';
  return usageError('backup.version-mismatch', message, {
    hint: `${installHint(needed, check.platform)}${check.where === 'container' ? ' in the container image' : ''}; ${other}`,
  });
}

/** pg_dump's own refusal, for when it got there before our check could (no psql to ask). */
export function parseServerMismatch(stderr: string): { server: string; tool: string } | undefined {
  const match = /server version:\s*([^;\n]+);\s*pg_dump version:\s*([^\n]+)/.exec(stderr);
  return match ? { server: match[1]!.trim(), tool: match[2]!.trim() } : undefined;
}

/** pg_restore's refusal of an archive written by a newer pg_dump. */
export function parseUnsupportedArchive(stderr: string): string | undefined {
  return /unsupported version \(([\d.]+)\) in file header/.exec(stderr)?.[1];
}
