// `coderdb restore FILE`: an archive back into a database, with the guardrails the runbook's
// `psql < file` ("BE CAREFUL!") lacks. The archive is checked against its manifest first; a target
// that is not empty or is marked production is refused unless forced AND its name is typed on a
// terminal; a non-empty target is backed up before anything changes; pg_restore runs in a single
// transaction that stops at the first error; the outcome (tables, rows) is reported and audited.

import { basename } from 'node:path';
import { CoderdbError, refusedError, usageError } from '../../core/errors.js';
import { directTransport } from '../../transport/direct.js';
import type { Context } from '../db.js';
import { detectFormat, readToc } from './archive.js';
import { auditBackup } from './audit.js';
import { takeBackup } from './backup.js';
import { manifestPath, readManifest } from './manifest.js';
import { hashFile } from './meter.js';
import { findPgTool, localPlatform } from './pg-tools.js';
import { countRows, type DatabaseFacts, probeDatabase, type TableCount } from './probe.js';
import { type BackupContext, type LocalReach, openReach, type Reach } from './reach.js';
import { probeContainer, restoreInContainer } from './restore-exec.js';
import { restoreHere } from './restore-local.js';
import type { ArchiveFormat, Manifest, ProgressListener } from './types.js';
import { checkRestoreVersion, majorOf, serverMajor } from './versions.js';

export interface RestoreQuestion {
  /** `yes`: an ordinary confirmation. `typed`: the database name must be typed exactly. */
  kind: 'yes' | 'typed';
  database: string;
  /** Why the target is protected (typed confirmations only). */
  reasons: string[];
}

export interface RestorePlan {
  file: string;
  format: ArchiveFormat;
  manifest: Manifest | undefined;
  target: string;
  database: string;
  serverVersion: string;
  /** User tables, views and sequences in the target now. */
  relations: number;
  coderTables: string[];
  production: boolean;
  /** Objects in the archive replace existing ones (pg_restore --clean --if-exists). */
  clean: boolean;
  /** The role pg_restore connects as: the archive's SQL runs with its rights. */
  role: string;
  superuser: boolean;
}

export interface RestoreOptions {
  /** Allows a non-empty or production target, still only after the typed confirmation. */
  force?: boolean;
  /** Confirms a restore into an empty, non-production database without asking. */
  yes?: boolean;
  /** Restores an archive that has no manifest (its checksum cannot be compared). */
  trustArchive?: boolean;
  /** Restores even when the target role is a superuser (the archive's SQL then runs as one). */
  asSuperuser?: boolean;
  /** Asks a person; without it, anything that needs asking is refused. */
  confirm?: (question: RestoreQuestion) => Promise<boolean>;
  /** Sees the plan before any question and before anything changes. */
  onPlan?: (plan: RestorePlan) => void;
  onProgress?: ProgressListener;
  reason?: string;
  /** Stops the restore (its sessions terminated); defaults to the context's. */
  signal?: AbortSignal;
}

export interface RestoreResult {
  file: string;
  target: string;
  database: string;
  tables: TableCount[];
  rows: number;
  /** The backup of the target taken before it was replaced. */
  preRestoreBackup?: string;
  notes: string[];
}

export async function restoreBackup(
  context: BackupContext,
  file: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const signal = options.signal ?? context.signal;
  if (signal) options = { ...options, signal };
  const started = performance.now();
  const format = await detectFormat(file);
  const manifest = readManifest(file);
  if (!manifest && !options.trustArchive) throw untrustedArchive(file);
  const { sha256, size } = await hashFile(file, options.onProgress);
  if (manifest && (manifest.sha256 !== sha256 || manifest.size !== size)) {
    throw new CoderdbError(
      'checkFailed',
      'backup.verify-failed',
      `${file} does not match its manifest (size or SHA-256)`,
      {
        hint: 'the file is damaged or was changed; nothing was restored; use another backup',
      },
    );
  }
  const notes: string[] = manifest
    ? []
    : [`${basename(file)} has no manifest: its checksum could not be compared (--trust-archive)`];
  const reach = await openReach(context);
  const audit = (
    outcome: 'started' | 'restored' | 'refused' | 'error',
    extra: { error?: unknown; rows?: number; backupFile?: string },
  ) =>
    auditBackup(context, {
      command: 'restore',
      outcome,
      transport: reach.transport,
      target: reach.describe,
      statement: `pg_restore ${basename(file)}`,
      startedAt: started,
      ...(options.reason ? { reason: options.reason } : {}),
      ...extra,
    });
  try {
    const inspected = await inspectTarget(context, reach, file, format, manifest);
    notes.push(...inspected.notes);
    const { database } = inspected;
    const plan: RestorePlan = {
      file,
      format,
      manifest,
      target: reach.describe,
      database: database.database,
      serverVersion: database.version,
      relations: database.relations,
      coderTables: database.coderTables,
      production: context.profile.production,
      clean: database.relations > 0,
      role: database.role,
      superuser: database.superuser,
    };
    options.onPlan?.(plan);
    try {
      await guard(plan, context.profile.name, options);
    } catch (error) {
      audit('refused', { error });
      throw error;
    }
    // auditRequired: nothing is replaced before the shared trail took the restore's first line.
    if (context.audit.sinkRequired) {
      audit('started', {});
      await context.audit.accepted();
    }
    let preRestoreBackup: string | undefined;
    if (plan.relations > 0) {
      const backup = await takeBackup(context, {
        label: 'pre-restore',
        reason: `before restoring ${basename(file)}`,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      });
      preRestoreBackup = backup.file;
    }
    const tables = await runRestore(context, reach, file, format, plan, inspected, options, size, sha256);
    const rows = tables.reduce((sum, table) => sum + table.rows, 0);
    audit('restored', { rows, ...(preRestoreBackup ? { backupFile: preRestoreBackup } : {}) });
    return {
      file,
      target: reach.describe,
      database: database.database,
      tables,
      rows,
      ...(preRestoreBackup ? { preRestoreBackup } : {}),
      notes,
    };
  } catch (error) {
    if (!(error instanceof CoderdbError && error.kind === 'refused')) audit('error', { error });
    throw error;
  } finally {
    await reach.close();
  }
}

interface Inspected {
  database: DatabaseFacts;
  tool?: Awaited<ReturnType<typeof findPgTool>>;
  containerFacts?: Awaited<ReturnType<typeof probeContainer>>['facts'];
  notes: string[];
}

function contextAt(context: Context, reach: LocalReach): Context {
  return {
    ...context,
    transport: directTransport({ name: reach.transport, target: async () => reach.target }),
  };
}

/** The target's facts and a pg_restore able to read the archive, wherever it runs. */
async function inspectTarget(
  context: BackupContext,
  reach: Reach,
  file: string,
  format: ArchiveFormat,
  manifest: Manifest | undefined,
): Promise<Inspected> {
  const notes: string[] = [];
  if (reach.kind === 'local') {
    const database = await probeDatabase(contextAt(context, reach));
    refusePglite(database);
    const tool = await findPgTool('pg_restore', manifest ? majorOf(manifest.pgDump.version) : undefined);
    // Reads the header with the tool that will restore: an unreadable archive stops here, unchanged.
    const toc = await readToc(tool, file, format);
    checkRestoreVersion({
      tool: tool.version,
      archiveDumpVersion: toc.dumpVersion,
      where: 'local',
      platform: localPlatform(),
    });
    notes.push(...olderServerNote(manifest?.server.versionNum ?? 0, database));
    return { database, tool, notes };
  }
  const probed = await probeContainer(reach.container);
  refusePglite(probed.database);
  if (!probed.facts.pgRestore) {
    throw usageError(
      'restore.container-no-pg-restore',
      'pg_restore is not installed in the Coder container',
      {
        hint: 'install the postgresql client package in the image, or restore from this machine with --transport direct or tunnel',
      },
    );
  }
  checkRestoreVersion({
    tool: probed.facts.pgRestore,
    archiveDumpVersion: manifest?.pgDump.version,
    where: 'container',
    platform: probed.facts.platform,
  });
  notes.push(...olderServerNote(manifest?.server.versionNum ?? 0, probed.database));
  return { database: probed.database, containerFacts: probed.facts, notes };
}

/** PGlite's socket server cannot take COPY FROM STDIN, which pg_restore uses for every table. */
function refusePglite(database: DatabaseFacts): void {
  if (!database.pglite) return;
  throw usageError(
    'restore.pglite',
    `the target is PGlite (PostgreSQL ${database.version}), which cannot take a pg_restore`,
    {
      hint: 'start the sandbox with a real PostgreSQL: `coderdb sandbox stop && coderdb sandbox start --engine postgres` (its client tools must also be at least as new as the archive: Debian 12 ships 15)',
    },
  );
}

function olderServerNote(sourceVersionNum: number, target: DatabaseFacts): string[] {
  if (!sourceVersionNum || serverMajor(target.versionNum) >= serverMajor(sourceVersionNum)) return [];
  return [
    `the target runs PostgreSQL ${target.version}, older than the source (${serverMajor(sourceVersionNum)}); the restore may fail on newer syntax`,
  ];
}

/**
 * An archive is code: pg_restore runs the SQL in it (functions, triggers, defaults …) on the target.
 * Only an archive whose manifest vouches for its bytes is restored without being told to.
 */
function untrustedArchive(file: string): CoderdbError {
  return refusedError(
    'restore.untrusted-archive',
    `refusing to restore ${basename(file)}: it has no manifest (${basename(manifestPath(file))}), so its checksum cannot be compared`,
    {
      hint: "an archive's SQL runs on the target as the restoring role; restore archives made by `coderdb backup`, or add --trust-archive if you know where this one came from",
    },
  );
}

function refuseSuperuser(plan: RestorePlan, options: RestoreOptions): void {
  if (!plan.superuser || options.asSuperuser) return;
  throw refusedError(
    'restore.superuser',
    `refusing to restore as "${plan.role}", a superuser: the archive's SQL would run with every right on the server`,
    {
      hint: 'restore as a role that owns only the target database (--url postgres://owner@…/db), or add --as-superuser',
    },
  );
}

/** The guardrails: protected targets need --force and the typed name; others --yes or a "yes". */
async function guard(plan: RestorePlan, profile: string, options: RestoreOptions): Promise<void> {
  const reasons: string[] = [];
  if (plan.production) reasons.push(`profile "${profile}" is marked production`);
  if (plan.relations > 0) {
    const coder = plan.coderTables.length
      ? `, including Coder's tables (${plan.coderTables.join(', ')})`
      : '';
    reasons.push(
      `database "${plan.database}" is not empty: ${plan.relations} tables, views or sequences${coder}`,
    );
  }
  if (reasons.length > 0) {
    if (!options.force) {
      throw refusedError(
        'restore.refused',
        `refusing to restore into a protected target: ${reasons.join('; ')}`,
        {
          hint: 'restore into an empty database (e.g. --url postgres://…/coder_restored after CREATE DATABASE), or use --force and type the database name to replace its contents (a backup of it is taken first)',
        },
      );
    }
    refuseSuperuser(plan, options);
    if (!options.confirm) {
      throw refusedError(
        'restore.needs-terminal',
        'refusing to replace a protected database without a typed confirmation, and there is no terminal',
        {
          hint: 'run it on a terminal; --yes does not apply to protected targets',
        },
      );
    }
    if (!(await options.confirm({ kind: 'typed', database: plan.database, reasons }))) {
      throw refusedError('restore.declined', 'not restored: the database name was not confirmed', {
        hint: 'nothing was changed',
      });
    }
    return;
  }
  refuseSuperuser(plan, options);
  if (options.yes) return;
  if (!options.confirm) {
    throw refusedError(
      'restore.needs-confirmation',
      `restoring into "${plan.database}" needs confirmation and there is no terminal`,
      {
        hint: 'run again with --yes',
      },
    );
  }
  if (!(await options.confirm({ kind: 'yes', database: plan.database, reasons: [] }))) {
    throw refusedError('restore.declined', 'not restored: the restore was not confirmed', {
      hint: 'nothing was changed',
    });
  }
}

async function runRestore(
  context: BackupContext,
  reach: Reach,
  file: string,
  format: ArchiveFormat,
  plan: RestorePlan,
  inspected: Inspected,
  options: RestoreOptions,
  size: number,
  sha256: string,
): Promise<TableCount[]> {
  // pg_restore reports nothing while it works; a heartbeat keeps the elapsed time moving between
  // the upload's own progress events.
  const started = performance.now();
  let last = 0;
  const report: ProgressListener = (progress) => {
    last = performance.now();
    options.onProgress?.(progress);
  };
  const ticker = setInterval(() => {
    if (performance.now() - last >= 1000)
      report({ phase: 'restore', bytes: 0, elapsedMs: performance.now() - started });
  }, 1000);
  try {
    if (reach.kind === 'local') {
      await restoreHere(inspected.tool!, reach.target, file, format, plan.clean);
      return await countRows(contextAt(context, reach));
    }
    const counts = await restoreInContainer(reach.container, file, {
      format,
      size,
      sha256,
      clean: plan.clean,
      facts: inspected.containerFacts!,
      onProgress: report,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return counts ?? [];
  } finally {
    clearInterval(ticker);
  }
}
