// coderdb console (sql): an interactive SQL console with psql's habits over one held session, every
// statement through the guard and the audit log. With stdin not a terminal it runs a script.

import { createInterface } from 'node:readline';
import type { ReadStream, WriteStream } from 'node:tty';
import type { Command } from 'commander';
import { usageError } from '../../core/errors.js';
import { reportError } from '../errors.js';
import { globals, outputFormat, setExitStatus, withContext } from '../shared.js';

/** ECS Exec ends sessions idle for 20 minutes; a keep-alive well inside that. */
const KEEP_ALIVE_MS = 5 * 60_000;

interface ConsoleFlags {
  writeIdle: string;
}

export function registerConsole(program: Command): void {
  program
    .command('console')
    .alias('sql')
    .description('interactive SQL console: read-only unless \\write, guarded and audited, psql habits')
    .option('--write-idle <minutes>', 'write mode returns to read-only after this many idle minutes', '5')
    .addHelpText(
      'after',
      `
One session for the console's life (exec: one ECS Exec session with one psql; tunnel: one
port-forwarding session). Statements end at ; and may span lines. Each runs in its own READ ONLY
transaction with the guard and redaction of \`coderdb query\`; \\write plans, shows and asks y/N for
each change (a BEGIN … COMMIT block as one change), applies it in one transaction with an undo
file. Ctrl-C cancels the running statement, Ctrl-D or \\q ends the session, \\? lists the commands.
Every statement is audited with the console session id: coderdb audit --session ID.

Examples:
  coderdb console                              # prod:coder (tunnel, read-only)=>
  coderdb --transport exec sql                 # the same over ECS Exec (psql in the task)
  coderdb console < checks.sql > out.txt       # a script: stops at the first error, status 1`,
    )
    .action(async (flags: ConsoleFlags, cmd: Command) => {
      const minutes = Number(flags.writeIdle);
      if (!Number.isFinite(minutes) || minutes <= 0) {
        throw usageError('console.write-idle', `--write-idle ${flags.writeIdle} is not a number of minutes`);
      }
      (await import('../../sql/parser.js')).preloadParser();
      const format = outputFormat(cmd);
      const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
      await withContext(cmd, async (base) => {
        const [{ Console }, { HeldTransport }] = await Promise.all([
          import('../../console/console.js'),
          import('../../console/held-transport.js'),
        ]);
        let console: InstanceType<typeof Console> | undefined;
        const held = new HeldTransport(base.transport, {
          applicationName: 'coderdb console',
          read: {
            statementTimeoutMs: base.profile.readStatementTimeoutMs,
            lockTimeoutMs: base.profile.readLockTimeoutMs,
          },
          ...(base.signal ? { signal: base.signal } : {}),
          onReconnect: (reason) => console?.say(`the session had ended (${reason}); reconnected`),
        });
        // The context line is printed once, before the first prompt, not in the middle of a line
        // typed when the first statement or completion lookup opens a transaction.
        const { onSessionOpen, ...context } = base;
        console = new Console({
          context: { ...context, transport: held },
          held,
          format,
          showSecrets: Boolean(globals(cmd).showSecrets),
          writeIdleMs: minutes * 60_000,
          report: reportError,
          stdout: process.stdout,
        });
        try {
          await console.connect();
          onSessionOpen?.({
            transport: held.transportName,
            server: await held.server(),
            where: held.describe(),
          });
          held.keepAlive(KEEP_ALIVE_MS);
          const status = interactive ? await interactiveLoop(console) : await scriptLoop(console);
          setExitStatus(status);
        } finally {
          await console.close();
        }
      });
    });
}

type ConsoleType = import('../../console/console.js').Console;

async function interactiveLoop(console: ConsoleType): Promise<number> {
  const [
    { Terminal },
    { Completion },
    { loadHistory, HistoryWriter, HISTORY_SIZE },
    { META_COMMANDS },
    catalog,
  ] = await Promise.all([
    import('../../console/terminal.js'),
    import('../../console/completion.js'),
    import('../../console/history.js'),
    import('../../console/meta.js'),
    import('../../console/catalog-source.js'),
  ]);
  const historyWriter = new HistoryWriter();
  const completion = new Completion(catalog.catalogSource(console.context), META_COMMANDS);
  const terminal = new Terminal(process.stdin as ReadStream, process.stdout as WriteStream, {
    history: loadHistory(),
    historySize: HISTORY_SIZE,
    completer: (line) => completion.complete(console.buffer, line),
    // Saved by the loop once a statement is over (and a password's lines forgotten), off its path.
    onHistory: () => undefined,
  });
  console.options.terminal = terminal;
  terminal.onInterrupt = () => console.interrupt();
  const server = await console.options.held.server();
  process.stderr.write(
    `coderdb console: ${server.database} as ${server.user} over ${console.options.held.transportName}, ` +
      `read-only; session ${console.sessionId}. \\? for help, \\q to quit.\n`,
  );
  let lines = 0;
  try {
    while (!console.quitting) {
      const input = await terminal.readLine(console.prompt());
      if (input.kind === 'eof') break;
      if (input.kind === 'interrupt') {
        console.buffer = '';
        lines = 0;
        continue;
      }
      lines += 1;
      const before = console.lastStatement;
      await console.line(input.text);
      if (console.buffer) continue;
      // A statement that sets a password leaves no trace in the history, on any of its lines.
      if (console.lastStatement !== before && !(await console.keepsInHistory(console.lastStatement))) {
        terminal.forget(Math.min(lines, terminal.history.length));
      }
      lines = 0;
      // A history that cannot be saved is no reason to stop an investigation (the writer says nothing).
      historyWriter.save(terminal.history);
    }
  } finally {
    terminal.close();
    await historyWriter.flush();
  }
  return 0;
}

/** stdin is a file or a pipe: the statements in order, stopping at the first failure. */
async function scriptLoop(console: ConsoleType): Promise<number> {
  const input = createInterface({
    input: process.stdin,
    terminal: false,
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of input) {
    const status = await console.line(line);
    if (status !== 0) return status;
    if (console.quitting) return 0;
  }
  // As psql, a last statement without its `;` still runs at the end of the input.
  if (console.buffer.trim()) {
    const rest = console.buffer;
    console.buffer = '';
    return console.runSql(rest);
  }
  return 0;
}
