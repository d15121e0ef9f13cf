// coderdb undo FILE, audit, config show|path: the safety net and the bookkeeping.

import type { Command } from 'commander';
import { paths } from '../../core/paths.js';
import { outputFormat, resolveProfile, say, withContext } from '../shared.js';
import { reportOutcome, type WriteFlags, writeOptions } from '../write-flow.js';

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

  program
    .command('audit')
    .description('show the audit log: every statement coderdb ran, with who, where, rows and outcome')
    .option('--limit <n>', 'the last N entries', '50')
    .option('--path', 'print the log file path and exit')
    .option('--session <id>', 'only the statements of one `coderdb console` session, in order')
    .action(async (flags: { limit: string; path?: boolean; session?: string }, cmd: Command) => {
      const { AuditLog } = await import('../../core/audit.js');
      const log = new AuditLog();
      if (flags.path) {
        process.stdout.write(`${log.file}\n`);
        return;
      }
      const all = log.read();
      const entries = flags.session
        ? all.filter((entry) => entry.session === flags.session)
        : all.slice(-Math.max(1, Number(flags.limit) || 50));
      const format = outputFormat(cmd);
      if (format === 'json') {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      } else if (format === 'ndjson') {
        process.stdout.write(entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
      } else {
        const { printResult } = await import('../render.js');
        const { Sink } = await import('../../core/output/sink.js');
        const columns = ['time', 'profile', 'transport', 'command', 'outcome', 'rows', 'statement'] as const;
        const text = (value: unknown) => (value === undefined || value === null ? null : String(value));
        await printResult(
          {
            fields: columns.map((name) => ({ name, type: { name: 'text', kind: 'text', array: false } })),
            rows: entries.map((entry) =>
              columns.map((column) => {
                const value = text(entry[column]);
                return column === 'statement' && value && value.length > 80
                  ? `${value.slice(0, 79)}…`
                  : value;
              }),
            ),
            command: 'SELECT',
            rowCount: entries.length,
          },
          format,
          new Sink(process.stdout),
        );
        if (entries.length === 0) say(`no entries yet in ${log.file}`);
      }
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
