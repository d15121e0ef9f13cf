// coderdb backup [verify|list], restore: parse flags, call src/ops/backup, render. Progress goes to
// stderr on a terminal only; results go to stdout (JSON with --format json).

import type { Command } from 'commander';
import { loadProfile } from '../../core/config.js';
import { usageError } from '../../core/errors.js';
import type { Format } from '../../core/output/formats.js';
import type {
  BackupResult,
  ListedBackup,
  Progress,
  ProgressListener,
  RestorePlan,
  RestoreQuestion,
  RestoreResult,
  VerifyReport,
} from '../../ops/backup/index.js';
import { globals, outputFormat, profileOptions, say, withContext } from '../shared.js';

interface BackupFlags {
  out?: string;
  parallel?: string;
  reason?: string;
}

interface RestoreFlags {
  target?: string;
  force?: boolean;
  trustArchive?: boolean;
  asSuperuser?: boolean;
  yes?: boolean;
  reason?: string;
}

const load = () => import('../../ops/backup/index.js');

export function registerBackup(program: Command): void {
  const backup = program
    .command('backup')
    .description('take a verified backup (pg_dump archive + manifest) where the database can be reached')
    .option(
      '--out <file>',
      'archive file, or a directory for a timestamped one (default: the backup directory)',
    )
    .option(
      '--parallel <n>',
      'dump in N parts (directory format, packed in a tar): over exec N sessions at ~1 MB/s each; locally pg_dump -j N',
    )
    .option('--reason <text>', 'recorded in the manifest and the audit log')
    .action(async (flags: BackupFlags, cmd: Command) => {
      const format = outputFormat(cmd);
      await withContext(cmd, async (context) => {
        const { takeBackup } = await load();
        const progress = progressRenderer();
        let result: BackupResult;
        try {
          result = await takeBackup(context, {
            ...(flags.out ? { out: flags.out } : {}),
            ...(flags.parallel ? { parallel: parseParallel(flags.parallel) } : {}),
            ...(flags.reason ? { reason: flags.reason } : {}),
            onProgress: progress.listener,
          });
        } finally {
          progress.done();
        }
        printBackup(result, format);
      });
    });
  backup.addHelpText(
    'after',
    `
Over --transport exec, pg_dump runs inside the Coder task (no network path to RDS needed) and the
archive streams back through ECS Exec; --parallel 4 uses four sessions. Over direct or tunnel,
pg_dump runs here and must be at least the server's major version.
Examples:
  coderdb backup
  coderdb --transport exec backup --parallel 4 --out coder.tar
  coderdb backup verify ~/.local/share/coderdb/backups/coder-default-20250101T120000Z.dump`,
  );

  backup
    .command('verify')
    .description('check an archive: size and SHA-256 against its manifest, then pg_restore reads every entry')
    .argument('<file>', 'the archive')
    .option('--quick', 'checksums and table of contents only (skip reading all table data)')
    .action(async (file: string, flags: { quick?: boolean }, cmd: Command) => {
      const format = outputFormat(cmd);
      const { inspectBackup } = await load();
      const progress = progressRenderer();
      let report: VerifyReport;
      try {
        report = await inspectBackup(file, { quick: Boolean(flags.quick), onProgress: progress.listener });
      } finally {
        progress.done();
      }
      printVerify(report, format);
      if (!report.ok) {
        const { CoderdbError } = await import('../../core/errors.js');
        throw new CoderdbError('checkFailed', 'backup.verify-failed', `${file} failed verification`, {
          hint: 'do not restore from this file; use another backup',
        });
      }
    });

  backup
    .command('list')
    .description('the backups in the backup directory (or --dir) with their manifests')
    .option('--dir <dir>', 'another directory to list')
    .action(async (flags: { dir?: string }, cmd: Command) => {
      const { listBackups } = await load();
      const { paths } = await import('../../core/paths.js');
      const dir = flags.dir ?? paths.backupDir();
      await printList(listBackups(dir), outputFormat(cmd), dir);
    });

  program
    .command('restore')
    .description('restore an archive into an empty database (guarded, one transaction, audited)')
    .argument('<file>', 'archive made by `coderdb backup` (or pg_dump -Fc)')
    .option('--target <profile>', 'profile of the database to restore into (or give --url / --profile)')
    .option('--force', 'allow a non-empty or production target: you type its name, it is backed up first')
    .option('-y, --yes', 'restore into an empty, non-production database without asking')
    .option('--trust-archive', 'restore an archive without a manifest (its checksum cannot be compared)')
    .option('--as-superuser', "allow a superuser target role (the archive's SQL then runs as one)")
    .option('--reason <text>', 'recorded in the audit log')
    .addHelpText(
      'after',
      `
An archive is code: its SQL runs on the target as the role coderdb connects as. It is restored
only when its manifest's SHA-256 matches (--trust-archive for one without a manifest), and never as
a superuser without --as-superuser. The target must be empty unless --force; --force (and any production profile) also needs the
database name typed on a terminal. pg_restore runs with --single-transaction --exit-on-error:
a failed restore changes nothing. Objects are owned by the restoring user (--no-owner).
Examples:
  coderdb restore backup.dump --url postgres://coder@localhost/coder_restored --yes
  coderdb sandbox start --engine postgres && coderdb restore backup.dump --target sandbox --force`,
    )
    .action(async (file: string, flags: RestoreFlags, cmd: Command) => {
      const format = outputFormat(cmd);
      const options = profileOptions(globals(cmd));
      if (flags.target) options.profile = flags.target;
      else if (!globals(cmd).url && !globals(cmd).profile && !process.env.CODERDB_PROFILE) {
        throw usageError('restore.no-target', 'say which database to restore into', {
          hint: 'use --target PROFILE or --url postgres://…/database',
        });
      }
      const profile = loadProfile(options);
      const [{ createContext }, { interruption }] = await Promise.all([
        import('../../context.js'),
        import('../interrupt.js'),
      ]);
      const context = createContext({ resolvedProfile: profile, signal: interruption });
      try {
        const { restoreBackup } = await load();
        const progress = progressRenderer();
        let result: RestoreResult;
        try {
          result = await restoreBackup(context, file, {
            force: Boolean(flags.force),
            yes: Boolean(flags.yes),
            trustArchive: Boolean(flags.trustArchive),
            asSuperuser: Boolean(flags.asSuperuser),
            ...(flags.reason ? { reason: flags.reason } : {}),
            onPlan: (plan) => {
              progress.pause();
              say(describePlan(plan));
            },
            ...(await confirmer(progress)),
            onProgress: progress.listener,
          });
        } finally {
          progress.done();
        }
        printRestore(result, format);
      } catch (error) {
        // Refusals before the target is reached (an archive without a manifest) are logged here.
        (await import('../../ops/db.js')).recordRefusal(
          context,
          { command: 'restore', statement: `pg_restore ${file}` },
          error,
        );
        throw error;
      } finally {
        await context.audit.settle();
        context.dispose();
      }
    });
}

function parseParallel(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw usageError('backup.parallel', '--parallel must be a whole number');
  return value;
}

/** Terminal confirmation; none without a terminal (the library then refuses). */
async function confirmer(
  progress: ReturnType<typeof progressRenderer>,
): Promise<{ confirm?: (question: RestoreQuestion) => Promise<boolean> }> {
  const { canPrompt, confirmTyped } = await import('../../core/prompt.js');
  if (!canPrompt()) return {};
  return {
    confirm: async (question) => {
      progress.pause();
      if (question.kind === 'typed') {
        for (const reason of question.reasons) say(`  ! ${reason}`);
        return confirmTyped(
          `Its contents will be replaced. Type the database name "${question.database}" to go on: `,
          question.database,
        );
      }
      return confirmTyped(`Restore into database "${question.database}"? Type yes to go on: `, 'yes');
    },
  };
}

function describePlan(plan: RestorePlan): string {
  const source = plan.manifest
    ? `${plan.manifest.database} from PostgreSQL ${plan.manifest.server.version}, taken ${plan.manifest.startedAt} via ${plan.manifest.transport}`
    : 'no manifest';
  const state =
    plan.relations === 0
      ? 'empty'
      : `${plan.relations} tables/views/sequences${plan.coderTables.length ? " (Coder's)" : ''}`;
  return [
    `Restore ${plan.file} (${plan.format === 'custom' ? 'custom archive' : 'directory archive'}; ${source})`,
    `   into database "${plan.database}" (PostgreSQL ${plan.serverVersion}, ${state}${plan.production ? ', PRODUCTION' : ''}) via ${plan.target}`,
    `   the archive's SQL runs as role "${plan.role}" on the target${plan.superuser ? ' (a SUPERUSER)' : ''}`,
  ].join('\n');
}

function printBackup(result: BackupResult, format: Format): void {
  const { manifest } = result;
  if (format !== 'table') {
    process.stdout.write(
      `${JSON.stringify({ file: result.file, manifestFile: result.manifestFile, manifest, notes: result.notes }, null, format === 'json' ? 2 : undefined)}\n`,
    );
    return;
  }
  const seconds = (Date.parse(manifest.finishedAt) - Date.parse(manifest.startedAt)) / 1000;
  process.stdout.write(
    [
      `backup: ${result.file}`,
      `  ${manifest.database} (PostgreSQL ${manifest.server.version}) via ${manifest.source}${manifest.sessions > 1 ? `, ${manifest.sessions} sessions` : ''}`,
      `  ${formatBytes(manifest.size)} in ${seconds.toFixed(1)} s (${formatBytes(manifest.size / Math.max(seconds, 0.001))}/s), ${manifest.archive} archive, pg_dump ${manifest.pgDump.version} (${manifest.pgDump.where})`,
      `  sha256 ${manifest.sha256}`,
      `  ${manifest.toc ? `${manifest.toc.entries} entries, ${manifest.toc.tableData} tables with data` : 'table of contents not checked'}; manifest ${result.manifestFile}`,
      '',
    ].join('\n'),
  );
  for (const note of result.notes) say(`note: ${note}`);
}

function printVerify(report: VerifyReport, format: Format): void {
  if (format !== 'table') {
    process.stdout.write(`${JSON.stringify(report, null, format === 'json' ? 2 : undefined)}\n`);
    return;
  }
  const lines = [`${report.ok ? 'ok' : 'FAILED'}: ${report.file} (${report.format})`];
  for (const check of report.checks)
    lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(9)} ${check.detail}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function printList(backups: ListedBackup[], format: Format, dir: string): Promise<void> {
  if (format === 'json' || format === 'ndjson') {
    process.stdout.write(
      format === 'json'
        ? `${JSON.stringify(backups, null, 2)}\n`
        : backups.map((backup) => `${JSON.stringify(backup)}\n`).join(''),
    );
    return;
  }
  const { printResult } = await import('../render.js');
  const { Sink } = await import('../../core/output/sink.js');
  const columns = [
    'created',
    'database',
    'size',
    'profile',
    'transport',
    'format',
    'verified',
    'status',
    'file',
  ];
  await printResult(
    {
      fields: columns.map((name) => ({ name, type: { name: 'text', kind: 'text', array: false } })),
      rows: backups.map((backup) => [
        backup.createdAt ?? null,
        backup.database ?? null,
        formatBytes(backup.size),
        backup.profile ?? null,
        backup.transport ?? null,
        backup.archive ?? null,
        verifiedLabel(backup),
        backup.status,
        backup.file,
      ]),
      command: 'SELECT',
      rowCount: backups.length,
    },
    format,
    new Sink(process.stdout),
  );
  if (backups.length === 0) say(`no backups in ${dir}`);
}

/**
 * A backup checks its archive as it commits it (checksum, pg_restore's table of contents); `backup
 * verify` also has pg_restore read every entry. The list says which happened last, and when.
 */
function verifiedLabel(backup: import('../../ops/backup/list.js').ListedBackup): string | null {
  if (backup.verifiedAt) return backup.verifiedAt;
  if (backup.checkedAt) return `${backup.checkedAt} (at backup)`;
  return backup.status === 'ok' ? 'no' : null;
}

function printRestore(result: RestoreResult, format: Format): void {
  if (format !== 'table') {
    process.stdout.write(`${JSON.stringify(result, null, format === 'json' ? 2 : undefined)}\n`);
    return;
  }
  const lines = [
    `restored ${result.file}`,
    `  into "${result.database}" via ${result.target}: ${result.tables.length} tables, ${result.rows.toLocaleString('en-US')} rows`,
  ];
  if (result.preRestoreBackup)
    lines.push(`  the previous contents were backed up to ${result.preRestoreBackup}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  for (const note of result.notes) say(`note: ${note}`);
  say('hint: run ANALYZE on the restored database so the planner has statistics');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

const PHASES: Record<Progress['phase'], string> = {
  probe: 'inspecting',
  dump: 'dumping',
  transfer: 'receiving',
  assemble: 'packing',
  verify: 'checking',
  upload: 'uploading',
  restore: 'restoring',
};

/** One self-overwriting status line on a terminal's stderr; nothing when stderr is not a terminal. */
/** mm:ss (minutes go past 59). */
function clock(seconds: number): string {
  return `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(Math.floor(seconds % 60)).padStart(2, '0')}`;
}

export function progressRenderer(stream: NodeJS.WriteStream = process.stderr): {
  listener: ProgressListener | undefined;
  pause(): void;
  done(): void;
} {
  if (!stream.isTTY) return { listener: undefined, pause: () => undefined, done: () => undefined };
  let shown = false;
  let last = 0;
  const clear = () => {
    if (shown) stream.write('\r\x1b[2K');
    shown = false;
  };
  const listener: ProgressListener = (progress) => {
    const now = performance.now();
    if (now - last < 100) return;
    last = now;
    const seconds = progress.elapsedMs / 1000;
    const parts = [PHASES[progress.phase]];
    if (progress.bytes > 0 || progress.totalBytes) {
      // A serial dump's total is the database's size: the compressed archive ends below it.
      const of = progress.estimated ? 'of ~' : 'of ';
      parts.push(
        progress.totalBytes
          ? `${formatBytes(progress.bytes)} ${of}${formatBytes(progress.totalBytes)} (${Math.min(100, Math.floor((100 * progress.bytes) / progress.totalBytes))}%)`
          : formatBytes(progress.bytes),
      );
      if (seconds > 0.5) parts.push(`${formatBytes(progress.bytes / seconds)}/s`);
    }
    // Cut so the line never wraps on an 80-column terminal (a wrapped line cannot be overwritten).
    if (progress.table) {
      parts.push(progress.table.length > 28 ? `${progress.table.slice(0, 27)}…` : progress.table);
    }
    parts.push(clock(seconds));
    // Shown once the rate means something; with an estimated total it is at most that long.
    if (progress.etaMs !== undefined && seconds > 0.5) {
      parts.push(`ETA ${progress.estimated ? '≤' : ''}${clock(progress.etaMs / 1000)}`);
    }
    stream.write(`\r\x1b[2K${parts.join('  ')}`);
    shown = true;
  };
  return { listener, pause: clear, done: clear };
}
