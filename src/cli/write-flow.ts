// The write flags every writing command shares (--dry-run, --yes, --reason, --no-undo, --allow-all-rows)
// and the terminal side of the write path: show the plan, ask for confirmation, report the outcome.

import type { Command } from 'commander';
import { refusedError } from '../core/errors.js';
import type { Format } from '../core/output/formats.js';
import { ask, canPrompt, isInterruption } from '../core/prompt.js';
import type { Context } from '../ops/db.js';
import type { WriteOptions, WriteOutcome, WritePlan } from '../ops/write/index.js';

export interface WriteFlags {
  dryRun?: boolean;
  yes?: boolean;
  reason?: string;
  undo?: boolean;
  allowAllRows?: boolean;
  backup?: boolean;
  confirmProduction?: string;
}

export function addWriteFlags(command: Command, options: { allowAllRows?: boolean } = {}): Command {
  command
    .option('--dry-run', 'show the plan (rows affected, before/after, trigger/cascade changes) and stop')
    .option('-y, --yes', 'apply without asking (needed when there is no terminal)')
    .option('--reason <text>', 'why the change is made; recorded in the audit log')
    .option(
      '--no-undo',
      'allow statements coderdb cannot undo (DDL, tables without a primary key, changes by triggers or cascades)',
    )
    .option('--backup', 'take a full backup (coderdb backup) after confirming and before applying')
    .option(
      '--confirm-production <database>',
      'on a production profile, the database name, typed out: what --yes alone does not confirm there',
    );
  if (options.allowAllRows)
    command.option(
      '--allow-all-rows',
      'allow a change of every row of a table (no WHERE, or one that selects them all, of 2 rows or more)',
    );
  return command;
}

export function writeOptions(flags: WriteFlags, format: Format): WriteOptions {
  const human = format === 'table';
  return {
    dryRun: Boolean(flags.dryRun),
    allowNoUndo: flags.undo === false,
    onPlan: async (plan) => {
      if (!human) return;
      const { formatPlan } = await import('./render.js');
      process.stdout.write(`${formatPlan(plan)}\n\n`);
    },
    confirm: (plan, context) =>
      context.profile.production
        ? confirmProduction(plan, context, flags)
        : confirmApply(plan, Boolean(flags.yes)),
    ...(flags.backup ? { beforeApply: backupBeforeApply } : {}),
  };
}

/** --backup: a full backup of the database the plan is about to change; no backup, no apply. */
async function backupBeforeApply(plan: WritePlan, context: Context): Promise<void> {
  const { takeBackup } = await import('../ops/backup/index.js');
  const { progressRenderer } = await import('./commands/backup.js');
  process.stderr.write(`Backing up "${plan.database}" before applying…\n`);
  const progress = progressRenderer();
  try {
    const backup = await takeBackup(context, {
      reason: `before ${plan.request.command}${plan.request.reason ? `: ${plan.request.reason}` : ''}`,
      onProgress: progress.listener,
    });
    progress.done();
    process.stderr.write(`backup: ${backup.file}\n`);
  } catch (error) {
    progress.done();
    throw error;
  }
}

async function confirmApply(plan: WritePlan, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!canPrompt()) {
    throw refusedError(
      'write.needs-confirmation',
      'not applied: the change needs confirmation and there is no terminal',
      {
        hint: 'review it with --dry-run, then run again with --yes',
      },
    );
  }
  const answer = await ask(`Apply this change to database "${plan.database}"? Type yes to commit: `).catch(
    (error: unknown) => {
      if (isInterruption(error)) throw error;
      return '';
    },
  );
  return answer.trim().toLowerCase() === 'yes';
}

/**
 * A production database is changed only when its name is typed: at the prompt, or with
 * --confirm-production NAME where nobody can be asked. --yes alone is not enough, so that a command
 * line copied from the sandbox or staging cannot change production by itself.
 */
async function confirmProduction(plan: WritePlan, context: Context, flags: WriteFlags): Promise<boolean> {
  const where = `database "${plan.database}" of production profile "${context.profile.name}"`;
  if (flags.confirmProduction !== undefined) {
    if (flags.confirmProduction === plan.database) return true;
    throw refusedError(
      'write.production-name',
      `not applied: --confirm-production ${flags.confirmProduction} does not name the ${where}`,
      { hint: 'nothing was changed' },
    );
  }
  if (!canPrompt()) {
    throw refusedError('write.production-needs-name', `not applied: the change is to the ${where}`, {
      hint: `${flags.yes ? '--yes is not enough on production; ' : ''}add --confirm-production ${plan.database}`,
    });
  }
  const answer = await ask(
    `\u001b[1;31mPRODUCTION\u001b[0m: type the database name (${plan.database}) to commit this change: `,
  ).catch((error: unknown) => {
    if (isInterruption(error)) throw error;
    return '';
  });
  return answer.trim() === plan.database;
}

export async function reportOutcome(
  outcome: WriteOutcome,
  format: Format,
  notes: string[] = [],
): Promise<void> {
  const { formatOutcome, outcomeJson } = await import('./render.js');
  if (format === 'table') {
    process.stdout.write(`${formatOutcome(outcome)}\n`);
    for (const note of notes) process.stderr.write(`${note}\n`);
  } else {
    process.stdout.write(
      `${JSON.stringify(outcomeJson(outcome), null, format === 'json' ? 2 : undefined)}\n`,
    );
  }
}
