// coderdb console in a real pseudo-terminal against the sandbox, over one transport per test file.
// Safety is proven by the database's fingerprint, not by what the console says; history, undo
// files and the audit log are read from disk; the pager is a fake that keeps what it receives.

import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DescribeSessionsCommand, SSMClient, TerminateSessionCommand } from '@aws-sdk/client-ssm';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { writeFingerprint as fingerprint } from '../helpers/fingerprint.js';
import { sandboxAwsConfig, startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { TerminalUnderTest } from '../helpers/terminal.js';

type Transport = 'direct' | 'exec' | 'tunnel';

const prompt = (transport: Transport, mode = 'read-only', tail = '=>') =>
  new RegExp(`sandbox:coder \\(${transport}, ${mode}\\)${tail} `);

async function sleeping(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query("select 1 from pg_stat_activity where wait_event = 'PgSleep'");
    return (result.rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

export function consoleSuite(transport: Transport, options: { full: boolean }): void {
  describe(`coderdb console over ${transport}`, () => {
    let sandbox: TestSandbox;
    const terminals: TerminalUnderTest[] = [];
    const READY = prompt(transport);

    const open = async (env: NodeJS.ProcessEnv = {}) => {
      const terminal = new TerminalUnderTest(
        process.execPath,
        [CLI, '--transport', transport, 'console'],
        { ...sandbox.env, NO_COLOR: '1', PAGER: 'cat', ...env },
        { cols: 160, rows: 40 },
      );
      terminals.push(terminal);
      await terminal.expect(READY, 60_000);
      return terminal;
    };
    const sessionOf = (terminal: TerminalUnderTest) => /session (c-[0-9a-f-]+)/.exec(terminal.all)?.[1] ?? '';
    const auditOf = async (session: string) => {
      const result = await sandbox.run(['audit', '--session', session, '--format', 'json']);
      return JSON.parse(result.stdout) as { outcome: string; statement?: string; session?: string }[];
    };

    beforeAll(async () => {
      sandbox = await startSandbox({ engine: 'postgres' });
    }, 240_000);
    afterEach(() => {
      for (const terminal of terminals.splice(0)) terminal.kill();
    });
    afterAll(async () => {
      await sandbox?.stop();
    });

    it('runs reads, refuses a write in read mode, and audits both under the session id', async () => {
      const terminal = await open();
      terminal.write('select name from templates where not deleted order by name limit 2;\r');
      await terminal.expect(/ name\s*\r\n-+\r\n aws-linux\s*\r\n docker\s*\r\n\(2 rows\)/);
      await terminal.expect(READY);
      // The held session is a read session as query's are: read-only by default, not only per statement.
      terminal.write("select current_setting('default_transaction_read_only') as ro;\r");
      await terminal.expect(/ ro\s*\r\n-+\r\n on\s*\r\n\(1 row\)/);
      await terminal.expect(READY);
      const before = await fingerprint(sandbox.state.databaseUrl);
      terminal.write("update templates set description = 'x';\r");
      await terminal.expect(/refused UPDATE[^\n]*read-only/);
      await terminal.expect(READY);
      expect(await fingerprint(sandbox.state.databaseUrl)).toEqual(before);
      terminal.write('\\q\r');
      expect((await terminal.exit()).exitCode).toBe(0);
      const entries = await auditOf(sessionOf(terminal));
      // A read logs a `started` line before it runs, then its outcome.
      expect(entries.map((entry) => entry.outcome)).toEqual(['started', 'ok', 'started', 'ok', 'refused']);
      expect(entries[4]!.statement).toBe("update templates set description = 'x'");
    });

    it('\\write plans, applies on y with an undo file and audit lines; n changes nothing', async () => {
      const terminal = await open();
      terminal.write('\\write\r');
      const WRITE = prompt(transport, 'WRITE', '=#');
      await terminal.expect(WRITE);
      const before = await fingerprint(sandbox.state.databaseUrl);
      terminal.write("update templates set description = 'declined' where name = 'docker';\r");
      await terminal.expect(/description: "[^"]*" → "declined"/);
      await terminal.expect(/\[y\/N\] /);
      terminal.write('n\r');
      await terminal.expect(/not applied/);
      await terminal.expect(WRITE);
      expect(await fingerprint(sandbox.state.databaseUrl)).toEqual(before);

      terminal.write("update templates set description = 'console fix' where name = 'docker';\r");
      await terminal.expect(/\[y\/N\] /);
      terminal.write('y\r');
      const [, undoFile] = await terminal.expect(/Undo file: (\S+)/);
      await terminal.expect(WRITE);
      expect(existsSync(undoFile!)).toBe(true);
      terminal.write('\\read\r');
      await terminal.expect(READY);
      terminal.write("select count(*) as fixed from templates where description = 'console fix';\r");
      await terminal.expect(/fixed\s*\r\n-+\r\n\s+2\s*\r\n/);
      terminal.write('\\q\r');
      await terminal.exit();
      const outcomes = (await auditOf(sessionOf(terminal))).map((entry) => entry.outcome);
      expect(outcomes).toContain('committed');
      expect(outcomes).toContain('refused');
      const undone = await sandbox.run(['undo', undoFile!, '--yes']);
      expect(undone.code).toBe(0);
    });

    it('Ctrl-C cancels a running statement and the same session runs the next one', async () => {
      const terminal = await open();
      terminal.write('select pg_backend_pid() as pid;\r');
      const [, pid] = await terminal.expect(/pid\s*\r\n-+\r\n\s*(\d+)/);
      await terminal.expect(READY);
      terminal.write('select pg_sleep(30);\r');
      await terminal.expect(/pg_sleep\(30\);\r*\n/);
      // The statement has reached the server when it waits in pg_sleep (over exec its text is
      // psql's EXECUTE, so the wait event is what tells).
      const started = Date.now();
      while (!(await sleeping(sandbox.state.databaseUrl))) {
        if (Date.now() - started > 20_000) throw new Error('pg_sleep never started');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      terminal.write('\x03');
      await terminal.expect(/canceled/, 15_000);
      await terminal.expect(READY);
      terminal.write('select pg_backend_pid() as pid;\r');
      await terminal.expect(new RegExp(`pid\\s*\\r\\n-+\\r\\n\\s*${pid}\\s`));
      terminal.write('\\q\r');
      expect((await terminal.exit()).exitCode).toBe(0);
    });

    it('reconnects, in one line, when the service ended the idle session', async () => {
      const terminal = await open();
      terminal.write('select 1 as one;\r');
      await terminal.expect(READY);
      const ssm = new SSMClient(sandboxAwsConfig(sandbox.state));
      try {
        const sessions = await ssm.send(new DescribeSessionsCommand({ State: 'Active' }));
        const ids = (sessions.Sessions ?? []).map((session) => session.SessionId!);
        if (transport === 'direct') {
          // No SSM session: the server ends the connection instead.
          const url = sandbox.state.databaseUrl;
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          await client.query(
            "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'coderdb console'",
          );
          await client.end();
        } else {
          expect(ids.length).toBeGreaterThan(0);
          for (const id of ids) await ssm.send(new TerminateSessionCommand({ SessionId: id }));
        }
      } finally {
        ssm.destroy();
      }
      terminal.write('select 2 as two;\r');
      await terminal.expect(/reconnected/, 60_000);
      await terminal.expect(/two\s*\r\n-+\r\n\s+2/);
      terminal.write('\\q\r');
      expect((await terminal.exit()).exitCode).toBe(0);
    });

    if (!options.full) return;

    it('completes a table, then one of its columns, in a statement over two lines', async () => {
      const terminal = await open();
      terminal.write('select id from provisioner_jo\t');
      await terminal.expect(/provisioner_jobs/);
      terminal.write('\r');
      await terminal.expect(prompt(transport, 'read-only', '->'));
      terminal.write('where organiza\t');
      await terminal.expect(/organization_id/);
      terminal.write(' is not null limit 1;\r');
      await terminal.expect(/\(\d+ rows?\)/);
      terminal.write('\\q\r');
      await terminal.exit();
      const entries = await auditOf(sessionOf(terminal));
      expect(entries.at(-1)!.statement).toBe(
        'select id from provisioner_jobs\nwhere organization_id is not null limit 1',
      );
    });

    it('keeps the history in a 0600 file, without statements that set a password', async () => {
      const terminal = await open();
      terminal.write('select 7 as seven;\r');
      await terminal.expect(READY);
      terminal.write("alter role postgres password 'hunter2';\r");
      await terminal.expect(READY);
      terminal.write('\\q\r');
      await terminal.exit();
      const file = join(sandbox.env.XDG_STATE_HOME!, 'coderdb', 'console_history');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const history = readFileSync(file, 'utf8');
      expect(history).toContain('select 7 as seven;');
      expect(history).not.toContain('hunter2');
    });

    it('sends a result taller than the terminal through $PAGER', async () => {
      const out = join(sandbox.dir, 'pager.out');
      const terminal = await open({ PAGER: `cat > '${out}'` });
      terminal.write('select generate_series(1, 100) as n;\r');
      await terminal.expect(READY);
      const paged = readFileSync(out, 'utf8');
      expect(paged).toContain('(100 rows)');
      expect(paged.split('\n').length).toBeGreaterThan(100);
      terminal.write('\\pset pager off\r');
      await terminal.expect(/Pager usage is off/);
      terminal.write('\\q\r');
      await terminal.exit();
    });

    it('runs a script from stdin, printing only results, and stops at the first error with status 1', async () => {
      const ok = await sandbox.run(['--transport', transport, 'console'], {
        input: 'select 1 as a;\nselect 2\n  as b;\n',
      });
      expect(ok.code).toBe(0);
      // What psql -f prints for the same script.
      expect(ok.stdout).toBe(' a \n---\n 1\n(1 row)\n\n b \n---\n 2\n(1 row)\n\n'.replace(/ \n/g, '\n'));
      const failed = await sandbox.run(['--transport', transport, 'console'], {
        input: 'select 1 as a;\nselect nope;\nselect 3 as c;\n',
      });
      expect(failed.code).toBe(1);
      expect(failed.stdout).toContain(' a\n');
      expect(failed.stdout).not.toContain(' c\n');
      expect(failed.stderr).toContain('column "nope" does not exist');
      // \i runs a local file as if typed, with the same guard.
      const file = join(sandbox.dir, 'included.sql');
      writeFileSync(file, "select 4 as d;\nupdate templates set name = 'x';\n");
      const included = await sandbox.run(['--transport', transport, 'console'], {
        input: `\\i ${file}\nselect 5 as e;\n`,
      });
      expect(included.code).toBe(4);
      expect(included.stdout).toBe(' d\n---\n 4\n(1 row)\n\n');
      expect(included.stderr).toContain('refused UPDATE');
    });
  });
}
