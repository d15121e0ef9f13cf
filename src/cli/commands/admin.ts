// coderdb undo FILE, audit, config show|path: the safety net and the bookkeeping.

import type { Command } from 'commander';
import type { AuditFilter } from '../../core/audit-filter.js';
import { paths } from '../../core/paths.js';
import { globals, outputFormat, resolveProfile, say, withContext } from '../shared.js';
import { reportOutcome, type WriteFlags, writeOptions } from '../write-flow.js';

/** The audit command's flags: the filter's fields, spelled as its options, plus the listing's own. */
interface AuditFlags extends AuditFilter {
  limit: string;
  path?: boolean;
}

export function registerAdmin(program: Command): void {
  program
    .command('undo')
    .description('restore the rows an applied write changed, from its undo file (planned and confirmed)')
    .argument('<file>', 'undo file printed by the write')
    .option('--force', 'restore even rows that changed after the write, or into another database')
    .option('--dry-run', 'show the plan and stop')
    .option('-y, --yes', 'apply without asking')
    .option('--reason <text>', 'recorded in the audit log')
    .action(async (file: string, flags: WriteFlags & { force?: boolean }, cmd: Command) => {
      const format = outputFormat(cmd);
      await withContext(cmd, async (context) => {
        const { performUndo } = await import('../../ops/write/index.js');
        const outcome = await performUndo(context, file, {
          ...writeOptions(flags, format),
          force: Boolean(flags.force),
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        await reportOutcome(outcome, format);
      });
    });

  const audit = program
    .command('audit')
    .description('show the audit log: every statement coderdb ran, with who, where, rows and outcome')
    .option('--limit <n>', 'the last N matching entries (all of them with --session)', '50')
    .option('--path', 'print the log file path and exit')
    .option(
      '--since <time>',
      'entries from this time: an ISO date (2026-12-01T14:00Z) or a duration ago (30m, 1h, 2d, 1w)',
    )
    .option('--until <time>', 'entries up to this time (same forms as --since)')
    .option('--identity <text>', 'only entries whose AWS identity (ARN) contains this text')
    .option('--outcome <list>', 'only these outcomes, comma-separated (ok,error,refused,committed …)')
    .option(
      '--writes',
      'only writes, undos and restores (planned, commit-pending, committed, rolled-back, restored)',
    )
    .option('--session <id>', 'only the statements of one `coderdb console` session, in order')
    .addHelpText(
      'after',
      '\nStatements print on one line in the table (cut at 80 characters) and whole in csv, json and ndjson.\n' +
        "`--profile NAME` (the global flag) shows only that profile's entries.\n" +
        'Every record is hash-chained to the one before it: `coderdb audit verify` checks the chain.',
    )
    .action(async (flags: AuditFlags, cmd: Command) => {
      const { AuditLog } = await import('../../core/audit.js');
      const { auditPredicate, oneLine } = await import('../../core/audit-filter.js');
      const log = new AuditLog();
      if (flags.path) {
        process.stdout.write(`${log.file}\n`);
        return;
      }
      const format = outputFormat(cmd);
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1) {
        const { usageError } = await import('../../core/errors.js');
        throw usageError('cli.limit', `--limit "${flags.limit}" is not a positive whole number`);
      }
      // `--profile` is the global flag (given after `audit` too): here it selects that profile's entries.
      const { profile } = globals(cmd);
      const matches = log.read().filter(auditPredicate({ ...flags, ...(profile ? { profile } : {}) }));
      const entries = flags.session ? matches : matches.slice(-limit);
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      } else if (format === 'ndjson') {
        process.stdout.write(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      } else {
        const { printResult } = await import('../render.js');
        const { Sink } = await import('../../core/output/sink.js');
        const columns = [
          'time',
          'profile',
          'identity',
          'transport',
          'command',
          'outcome',
          'rows',
          'reason',
          'statement',
        ] as const;
        const text = (value: unknown) => (value === undefined || value === null ? null : String(value));
        // csv is for tools: whole values; the table is for people: one line each.
        const cell = (value: string | null) =>
          value !== null && format === 'table' ? oneLine(value) : value;
        await printResult(
          {
            fields: columns.map((name) => ({ name, type: { name: 'text', kind: 'text', array: false } })),
            rows: entries.map((entry) => columns.map((column) => cell(text(entry[column])))),
            command: 'SELECT',
            rowCount: entries.length,
          },
          format,
          new Sink(process.stdout),
        );
        if (entries.length === 0) say(`no matching entries in ${log.file}`);
      }
    });
  audit
    .command('verify')
    .description("check the audit log's hash chain: names each edited, removed, inserted or reordered record")
    .addHelpText(
      'after',
      '\nOne line per break (line number and seq) and exit 5; one summary line and exit 0 when intact.\n' +
        'Records written before the chain are reported as "unchained before line N", not as tampering.\n' +
        '--file checks another copy, e.g. the trail read back from CloudWatch Logs (auditLogGroup).',
    )
    .option('--file <path>', 'a JSONL copy of the log to check instead of the local log')
    .action(async (flags: { file?: string }) => {
      const { AuditLog } = await import('../../core/audit.js');
      const { verifyChain } = await import('../../core/audit-chain.js');
      const { CoderdbError } = await import('../../core/errors.js');
      const log = new AuditLog(flags.file);
      const { existsSync } = await import('node:fs');
      if (!existsSync(log.file)) {
        process.stdout.write(`${log.file}: no audit log yet\n`);
        return;
      }
      const report = await verifyChain(log.file);
      const unchained =
        report.unchainedBefore === undefined
          ? ''
          : `; unchained before line ${report.unchainedBefore} (written before the chain)`;
      if (report.findings.length > 0) {
        process.stdout.write(report.findings.map((finding) => `${finding}\n`).join(''));
        throw new CoderdbError(
          'checkFailed',
          'audit.chain-broken',
          `${log.file}: ${report.findings.length} break${report.findings.length === 1 ? '' : 's'} in the hash chain of ${report.records} records${unchained}`,
        );
      }
      const none = report.chained === 0 && report.records > 0 ? '; no chained record yet' : '';
      process.stdout.write(
        `${log.file}: intact, ${report.chained} chained record${report.chained === 1 ? '' : 's'}${unchained}${none}\n`,
      );
    });

  const config = program.command('config').description('profiles and settings');
  config
    .command('show')
    .description(
      'the effective configuration (defaults ← config file ← env ← flags) with where each value comes from, secrets redacted',
    )
    .action(async (_flags: unknown, cmd: Command) => {
      const profile = resolveProfile(cmd);
      const { configReport } = await import('../../core/config-report.js');
      const report = configReport(profile);
      if (outputFormat(cmd) === 'json') {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const width = Math.max(...report.values.map((entry) => entry.field.length));
      const lines = [`profile ${report.profile}${report.production ? ' (PRODUCTION)' : ''}`];
      for (const entry of report.values) {
        const value = entry.value === undefined ? '' : String(entry.value);
        lines.push(`  ${entry.field.padEnd(width)}  ${value}${value ? '  ' : ''}(${entry.origin})`);
      }
      lines.push(
        `transport ${report.transport.configured}: ${report.transport.picks} (${report.transport.why})`,
      );
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  config
    .command('path')
    .description('where coderdb keeps its config, audit log, undo files and backups')
    .action(() => {
      const lines = [
        `config file: ${process.env.CODERDB_CONFIG ?? paths.configFile()}`,
        `audit log:   ${paths.auditLog()}`,
        `undo files:  ${paths.undoDir()}`,
        `backups:     ${paths.backupDir()}`,
        `sandbox:     ${paths.sandboxDir()}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
