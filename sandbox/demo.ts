// `coderdb sandbox demo`: the runbook, step by step, done with coderdb against the sandbox. Each
// step prints the runbook's way, the coderdb command, and the command's real output, so the demo
// doubles as an end-to-end check of the CLI.

import { AuditLog } from '../src/core/audit.js';
import { CoderdbError, ExitCode } from '../src/core/errors.js';
import type { SandboxState } from '../src/core/sandbox-state.js';
import { type SandboxOptions, type StartResult, start, stop } from './daemon.js';
import { STARTER_DESCRIPTION } from './fixture/index.js';

interface Step {
  title: string;
  runbook: string;
  args: string[];
  /** Exit status the step must end with (a refused write is part of the demo). */
  expect?: number;
}

const REBRANDED = STARTER_DESCRIPTION.replace('Coder', 'Workbench');
const SANDBOX = ['--profile', 'sandbox'];
const out = (text: string) => process.stdout.write(`${text}\n`);

function steps(engine: SandboxState['engine']): Step[] {
  /** Planned, then applied: the same command but for the last flags. */
  const rebrand = [
    ...SANDBOX,
    'templates',
    'replace-description',
    '--from',
    STARTER_DESCRIPTION,
    '--to',
    REBRANDED,
    '--exact',
  ];
  const count = 'select count(*) as live_templates from templates where not deleted';
  return [
    {
      title: 'auto, the default transport: no direct path in a private VPC, so a tunnel through the task',
      runbook:
        'aws ssm start-session --document-name AWS-StartPortForwardingSessionToRemoteHost …; psql -h localhost',
      args: [...SANDBOX, '--verbose', 'query', count],
    },
    {
      title: 'exec: the same query run by psql inside the Coder container (ECS Exec)',
      runbook: `aws ecs execute-command … --command "psql $CODER_PG_CONNECTION_URL -c '…'"`,
      args: [...SANDBOX, '--verbose', '--transport', 'exec', 'query', count],
    },
    {
      title: "doctor: the runbook's troubleshooting steps, each checked",
      runbook:
        'aws ecs describe-services/describe-tasks …, amazon-ecs-exec-checker.sh, security groups by hand',
      args: [...SANDBOX, 'doctor'],
    },
    { title: 'List the tables', runbook: 'psql: \\dt', args: [...SANDBOX, 'tables', '--no-views'] },
    { title: 'Show a table', runbook: 'psql: \\d templates', args: [...SANDBOX, 'describe', 'templates'] },
    {
      title: 'Find templates that mention Coder',
      runbook: "SELECT id, name, description FROM templates WHERE description LIKE '%Coder%'",
      args: [...SANDBOX, 'templates', 'search', 'Coder'],
    },
    {
      title: 'List users (no password hashes)',
      runbook: 'SELECT id, username, email, created_at FROM users',
      args: [...SANDBOX, 'users', 'list'],
    },
    {
      title: 'Workspaces per template (deleted ones excluded)',
      runbook: 'SELECT t.name, COUNT(w.id) … LEFT JOIN workspaces w … GROUP BY t.id, t.name',
      args: [...SANDBOX, 'workspaces', 'count'],
    },
    {
      title: 'A write without --write is refused before it is sent',
      runbook: 'UPDATE templates SET description = … (straight to production)',
      args: [...SANDBOX, 'query', "UPDATE templates SET description = 'oops'"],
      expect: ExitCode.refused,
    },
    ...(engine === 'pglite' ? [] : backupSteps()),
    {
      title: 'Plan the rebrand: rows affected, before → after, rolled back',
      runbook: `UPDATE templates SET description = '${REBRANDED}', updated_at = NOW() WHERE description = '${STARTER_DESCRIPTION}'`,
      args: [...rebrand, '--dry-run'],
    },
    {
      title: 'Apply it: one transaction, undo file, audit log',
      runbook: '(no plan, no backup, no record)',
      args: [...rebrand, '--yes', '--reason', 'rebrand to Workbench (demo)'],
    },
    { title: 'The audit log', runbook: '(none)', args: [...SANDBOX, 'audit', '--limit', '4'] },
    {
      title: 'Database size and largest tables',
      runbook: "SELECT pg_size_pretty(pg_database_size('coder')) …",
      args: [...SANDBOX, 'db', 'size', '--limit', '5'],
    },
    {
      title: 'Active connections',
      runbook: "SELECT pid, usename, … FROM pg_stat_activity WHERE datname = 'coder' AND state = 'active'",
      args: [...SANDBOX, 'db', 'connections'],
    },
  ];
}

function backupSteps(): Step[] {
  return [
    {
      title: 'A verified backup before the change: pg_dump inside the task, checked, then kept',
      runbook: 'pg_dump -Fc … > coder.dump (unchecked, on whichever machine had a route)',
      args: [...SANDBOX, 'backup'],
    },
    { title: 'The backups kept', runbook: 'ls -l *.dump', args: [...SANDBOX, 'backup', 'list'] },
  ];
}

/** Why the demo shows no backup on PGlite, and how to see one. */
const PGLITE_BACKUP_NOTE =
  "\n━━ (backup) skipped: PGlite is PostgreSQL 18, and pg_dump 15 (Debian's, as in the container) refuses a newer server;" +
  '\n   with a local PostgreSQL 15 (Debian: apt-get install postgresql) the demo runs on it and shows a verified backup.';

/**
 * Starts the sandbox. Without --engine: a local PostgreSQL 15 where there is one, so that the
 * backup step works, and PGlite (nothing to install) where there is none or it cannot start.
 */
async function startForDemo(options: DemoOptions): Promise<StartResult> {
  if (options.engine) return start(options);
  const { findPostgresBinDir } = await import('./engines/postgres-server.js');
  if (findPostgresBinDir()) {
    try {
      return await start({ ...options, engine: 'postgres' });
    } catch (error) {
      if (!(error instanceof CoderdbError) || error.code !== 'sandbox.failed') throw error;
      out(`(the local PostgreSQL did not start: ${error.message}; using PGlite)`);
    }
  }
  return start({ ...options, engine: 'pglite' });
}

export interface DemoOptions extends SandboxOptions {
  keep?: boolean;
  /** Ends the demo early (Ctrl-C, a closed stdout); a sandbox it started is still stopped. */
  signal?: AbortSignal;
}

export async function demo(options: DemoOptions): Promise<number> {
  const { main } = await import('../src/cli/program.js');
  out('Starting the sandbox (embedded PostgreSQL + emulated AWS)…');
  const { state, alreadyRunning } = await startForDemo(options);
  const owned = !alreadyRunning && !options.keep;
  let stopping: Promise<boolean> | undefined;
  const stopOnce = () => {
    stopping ??= stop();
    return stopping;
  };
  // Listening also tells the CLI's interrupt handler that there is something to end before exiting.
  const onAbort = () => void stopOnce();
  if (owned) options.signal?.addEventListener('abort', onAbort, { once: true });
  const network = state.private
    ? 'private VPC: the database is reachable only through the task'
    : 'the database URL is known: auto goes direct';
  out(`Sandbox ready: ${state.engine}, scenario ${state.scenario}, ${network}.\n`);
  // A URL left in the environment by an earlier `eval "$(coderdb sandbox env)"` names that
  // sandbox, not this one: the demo shows the sandbox it started, so it sets such URLs aside.
  const setAside = setAsideDatabaseUrls();
  let failures = 0;
  try {
    const all = steps(state.engine);
    for (const [index, step] of all.entries()) {
      if (options.signal?.aborted) break;
      if (state.engine === 'pglite' && step.title.startsWith('Plan')) out(PGLITE_BACKUP_NOTE);
      failures += (await runStep(main, index + 1, step)) ? 0 : 1;
      if (step.title.startsWith('Apply')) {
        const undoFile = new AuditLog().read().findLast((entry) => entry.undoFile)?.undoFile;
        if (undoFile) {
          const undo: Step = {
            title: 'Undo it from the undo file',
            runbook: '(restore from a backup, by hand)',
            args: [...SANDBOX, 'undo', undoFile, '--yes'],
          };
          failures += (await runStep(main, `${index + 1}b`, undo)) ? 0 : 1;
        }
      }
    }
  } finally {
    setAside.restore();
    options.signal?.removeEventListener('abort', onAbort);
    if (owned) {
      await stopOnce();
      out('\nThe sandbox has stopped (run with --keep to leave it running).');
    }
  }
  if (options.signal?.aborted) return 1;
  out(
    failures === 0
      ? '\nDemo complete: every step behaved as expected.'
      : `\nDemo finished with ${failures} unexpected result(s).`,
  );
  return failures === 0 ? 0 : 1;
}

const DATABASE_URL_VARIABLES = ['CODER_PG_CONNECTION_URL', 'CODERDB_URL'];

function setAsideDatabaseUrls(): { restore(): void } {
  const saved = new Map<string, string>();
  for (const name of DATABASE_URL_VARIABLES) {
    const value = process.env[name];
    if (value === undefined) continue;
    saved.set(name, value);
    delete process.env[name];
  }
  if (saved.size > 0) {
    out(
      `(${[...saved.keys()].join(' and ')} from the environment set aside: the demo uses the sandbox it started)\n`,
    );
  }
  return {
    restore() {
      for (const [name, value] of saved) process.env[name] = value;
    },
  };
}

async function runStep(
  main: (argv: string[]) => Promise<number>,
  number: number | string,
  step: Step,
): Promise<boolean> {
  out(`\n━━ ${number}. ${step.title}`);
  out(`   runbook: ${step.runbook}`);
  out(`   $ coderdb ${step.args.map(shellQuote).join(' ')}\n`);
  const code = await main(['node', 'coderdb', ...step.args]);
  const expected = step.expect ?? 0;
  if (code !== expected) out(`   ✗ exit status ${code}, expected ${expected}`);
  else if (expected !== 0) out(`   ✓ exit status ${code}, as expected`);
  return code === expected;
}

function shellQuote(arg: string): string {
  return /^[\w./=:@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}
