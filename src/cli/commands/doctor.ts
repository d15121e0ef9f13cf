// coderdb doctor: runs the library's checks and shows them as a checklist for people (colour only
// on a terminal without NO_COLOR), or as {"checks":[…]} for machines. Exit status 5 when a check
// failed; warnings and skips do not fail.

import type { Command } from 'commander';
import { ExitCode, usageError } from '../../core/errors.js';
import type { CheckResult, DoctorReport } from '../../ops/doctor/index.js';
import { globals, setExitStatus, withContext } from '../shared.js';

interface DoctorFlags {
  json?: boolean;
  timeout: string;
  only?: string[];
  list?: boolean;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'check everything between you and the database (credentials, ECS Exec, IAM, network, secret, RDS, logs) and run a real select 1',
    )
    .option('--json', 'print {"checks":[{"id","title","status","finding","fix"}]} for scripts')
    .option('--timeout <seconds>', 'give up on a check after this long', '10')
    .option(
      '--only <ids>',
      'run only these checks (comma-separated ids, repeatable) and the checks they depend on',
      (value: string, previous: string[] = []) => [...previous, ...value.split(',')],
    )
    .option('--list', 'list the checks with their ids and exit')
    .addHelpText(
      'after',
      `
Statuses: pass, warn (worth fixing, does not fail), fail (exit status 5), skip (not applicable, or a
check it depends on failed). Each failure and warning comes with a fix: the IAM statement to add,
the flag to set or the command to run. The checks follow the profile's transport: the direct
transport needs no ECS Exec, exec needs ecs:ExecuteCommand, tunnel ssm:StartSession.

Examples:
  coderdb doctor
  coderdb doctor --transport exec -v
  coderdb doctor --json | jq '.checks[] | select(.status == "fail")'
  coderdb doctor --only probe.select`,
    )
    .action(async (flags: DoctorFlags, cmd: Command) => {
      const { checkCatalog, runDoctor } = await import('../../ops/doctor/index.js');
      if (flags.list) {
        const catalog = checkCatalog();
        const width = Math.max(...catalog.map((check) => check.id.length));
        for (const check of catalog) {
          const deps = check.dependsOn.length ? `  (after ${check.dependsOn.join(', ')})` : '';
          process.stdout.write(`${check.id.padEnd(width)}  ${check.title}${deps}\n`);
        }
        return;
      }
      const seconds = Number(flags.timeout);
      if (!Number.isFinite(seconds) || seconds <= 0) {
        throw usageError('doctor.timeout', '--timeout must be a positive number of seconds');
      }
      const only = flags.only?.map((id) => id.trim()).filter(Boolean);
      const json = Boolean(flags.json) || globals(cmd).format === 'json';
      await withContext(cmd, async (context) => {
        const report = await runDoctor(
          { profile: context.profile, aws: context.aws, transport: context.transport },
          { timeoutMs: seconds * 1000, ...(only ? { only } : {}) },
        );
        const text = json
          ? `${JSON.stringify(toJson(report), null, 2)}\n`
          : renderChecklist(report, {
              verbose: Boolean(globals(cmd).verbose),
              color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
              heading: `coderdb doctor: profile ${context.profile.name}, transport ${context.profile.transport}, ${context.profile.region}`,
            });
        process.stdout.write(text);
        setExitStatus(report.ok ? ExitCode.ok : ExitCode.checkFailed);
      });
    });
}

/** The documented JSON: exactly these five keys per check, in report order. */
export function toJson(report: DoctorReport): {
  checks: Pick<CheckResult, 'id' | 'title' | 'status' | 'finding' | 'fix'>[];
} {
  return {
    checks: report.checks.map(({ id, title, status, finding, fix }) => ({ id, title, status, finding, fix })),
  };
}

interface RenderOptions {
  verbose: boolean;
  color: boolean;
  heading: string;
}

const SYMBOLS: Record<CheckResult['status'], string> = { pass: '✓', warn: '!', fail: '✗', skip: '-' };
const COLORS: Record<CheckResult['status'], string> = { pass: '32', warn: '33', fail: '31', skip: '2' };

export function renderChecklist(report: DoctorReport, options: RenderOptions): string {
  const paint = (code: string, text: string) => (options.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const width = Math.max(...report.checks.map((check) => check.title.length));
  const lines = [paint('1', options.heading), ''];
  for (const check of report.checks) {
    const symbol = paint(COLORS[check.status], SYMBOLS[check.status]);
    lines.push(`${symbol} ${check.title.padEnd(width)}  ${check.finding}`);
    const explain = check.status === 'fail' || check.status === 'warn';
    if (options.verbose) lines.push(paint('2', `    ${check.id}, ${check.durationMs} ms`));
    else if (explain) lines.push(paint('2', `    ${check.id}`));
    if (explain || options.verbose) for (const detail of check.details) lines.push(`    ${detail}`);
    if (explain && check.fix) {
      const [first, ...rest] = check.fix.split('\n');
      lines.push(`    ${paint('1', 'fix:')} ${first}`, ...rest.map((line) => `         ${line}`));
    }
  }
  const count = (status: CheckResult['status']) =>
    report.checks.filter((check) => check.status === status).length;
  const summary = [
    `${count('pass')} passed`,
    `${count('warn')} warning${count('warn') === 1 ? '' : 's'}`,
    `${count('fail')} failed`,
    `${count('skip')} skipped`,
  ].join(', ');
  const total = `${report.checks.length} check${report.checks.length === 1 ? '' : 's'}`;
  lines.push('', `${total}: ${summary} in ${(report.durationMs / 1000).toFixed(1)} s`);
  return `${lines.join('\n')}\n`;
}
