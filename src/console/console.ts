// `coderdb console`: the interactive investigation, statement by statement, through the same
// operations as `coderdb query` — runAnalyzedRead for reads (guard, READ ONLY transaction,
// redaction, audit) and performWrite for writes (plan, confirmation, one transaction, undo file,
// audit) — over one held session (held-transport.ts). This module is the loop: it collects input
// into statements (splitter.ts), runs meta-commands (meta.ts), keeps the mode and the display
// settings, and decides where output goes (stdout, the pager, an `\o` file).
//
// It belongs to the CLI layer (a terminal front-end), so it renders with src/cli/render.ts.

import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream as FileStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { CoderdbError, refusedError } from '../core/errors.js';
import { createWriter, type Format, type ResultWriter } from '../core/output/formats.js';
import { Sink } from '../core/output/sink.js';
import type { Context } from '../ops/db.js';
import type { AnalyzedStatement } from '../sql/guard.js';
import { AutoExpandedWriter, ExpandedWriter } from './expanded.js';
import type { HeldTransport } from './held-transport.js';
import { DEFAULT_PAGER, PagedSink } from './pager.js';
import { type PromptFacts, promptText } from './prompt.js';
import { setsPassword, splitComplete } from './splitter.js';
import type { Terminal } from './terminal.js';

export type Expanded = 'on' | 'off' | 'auto';

export interface ConsoleOptions {
  context: Context;
  held: HeldTransport;
  /** The interactive terminal; absent in script mode. */
  terminal?: Terminal;
  format: Format;
  showSecrets: boolean;
  /** Write mode ends after this long without a statement. */
  writeIdleMs: number;
  /** Reports an error the way the CLI does; returns its exit status. */
  report: (error: unknown) => number;
  stdout: Writable;
}

/** A transaction block typed in write mode, planned and confirmed as one unit at its COMMIT. */
interface WriteBlock {
  statements: AnalyzedStatement[];
}

export class Console {
  readonly sessionId: string;
  readonly options: ConsoleOptions;
  mode: 'read' | 'write' = 'read';
  format: Format;
  expanded: Expanded = 'off';
  timing = false;
  pager = true;
  /** The statement buffer: lines typed so far of a statement not yet ended by `;`. */
  buffer = '';
  lastStatement = '';
  #output: { file: string; stream: FileStream } | undefined;
  #block: WriteBlock | undefined;
  #lastActivity = Date.now();
  #idleTimer: NodeJS.Timeout | undefined;
  #database = '';
  #quit = false;

  constructor(options: ConsoleOptions) {
    this.options = options;
    this.format = options.format;
    this.sessionId = `c-${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
    options.context.sessionId = this.sessionId;
  }

  get context(): Context {
    return this.options.context;
  }

  get quitting(): boolean {
    return this.#quit;
  }

  quit(): void {
    this.#quit = true;
  }

  /** Opens the held session (the first prompt waits for it, as psql's does for its connection). */
  async connect(): Promise<void> {
    this.#database = (await this.options.held.server()).database;
  }

  prompt(continuation = false): string {
    const facts: PromptFacts = {
      profile: this.context.profile.name,
      database: this.#database,
      transport: this.options.held.transportName,
      mode: this.mode,
      production: Boolean(this.context.profile.production),
      color: Boolean(this.options.terminal) && !process.env.NO_COLOR,
    };
    return promptText(facts, continuation || this.buffer.trim().length > 0 || this.#block !== undefined);
  }

  say(line: string): void {
    if (this.options.terminal) this.options.terminal.notice(line);
    else process.stderr.write(`${line}\n`);
  }

  // ── modes ──────────────────────────────────────────────────────────────────────────────────

  enterWrite(): void {
    this.mode = 'write';
    this.#touch();
    const minutes = Math.round(this.options.writeIdleMs / 60_000);
    this.say(
      `write mode: each change is planned, shown and confirmed; \\read (or ${minutes} idle minute${minutes === 1 ? '' : 's'}) returns to read-only`,
    );
  }

  enterRead(reason?: string): void {
    if (this.mode === 'read') return;
    this.mode = 'read';
    clearTimeout(this.#idleTimer);
    if (this.#block) {
      this.#block = undefined;
      reason = `${reason ? `${reason}; ` : ''}the open transaction block was discarded, nothing was applied`;
    }
    this.say(`read-only${reason ? ` (${reason})` : ''}`);
    this.options.terminal?.setPrompt(this.prompt());
  }

  #touch(): void {
    this.#lastActivity = Date.now();
    clearTimeout(this.#idleTimer);
    if (this.mode !== 'write') return;
    this.#idleTimer = setTimeout(() => {
      if (this.options.held.busy) return;
      const minutes = Math.round((Date.now() - this.#lastActivity) / 60_000);
      this.enterRead(`after ${minutes} idle minute${minutes === 1 ? '' : 's'}`);
    }, this.options.writeIdleMs);
    this.#idleTimer.unref();
  }

  // ── input ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Takes one line of input. Returns the exit status of the first failure, for script mode to stop
   * on, or 0.
   */
  async line(text: string): Promise<number> {
    if (!this.buffer.trim() && text.trimStart().startsWith('\\')) {
      const { runMeta } = await import('./meta.js');
      return this.#guarded(() => runMeta(this, text.trim()));
    }
    this.buffer = this.buffer ? `${this.buffer}\n${text}` : text;
    const split = await splitComplete(this.buffer);
    if (!split) return 0;
    this.buffer = split.rest.trim() ? split.rest.replace(/^\s*\n/, '') : '';
    this.lastStatement = split.complete.trim();
    return this.runSql(split.complete);
  }

  /** Lines the statement took, for history clean-up. */
  async keepsInHistory(statement: string): Promise<boolean> {
    return !(await setsPassword(statement));
  }

  /** Runs SQL text that may hold several statements, in order; stops at the first failure. */
  async runSql(sql: string): Promise<number> {
    if (this.mode === 'write' && Date.now() - this.#lastActivity > this.options.writeIdleMs) {
      this.enterRead('write mode timed out');
    }
    this.#touch();
    const { analyze } = await import('../sql/guard.js');
    let statements: AnalyzedStatement[];
    try {
      statements = await analyze(sql);
    } catch (error) {
      this.#auditRefusal(sql, error, 'error');
      return this.options.report(error);
    }
    for (const statement of statements) {
      const status = await this.#guarded(() => this.#runStatement(sql, statement), statement);
      if (status !== 0) return status;
    }
    return 0;
  }

  async #runStatement(sql: string, statement: AnalyzedStatement): Promise<void> {
    const transaction = transactionVerb(statement);
    if (this.#block) {
      if (transaction === 'commit') {
        const block = this.#block;
        this.#block = undefined;
        if (block.statements.length === 0) this.say('empty transaction block: nothing to apply');
        else await this.#write(block.statements.map((entry) => entry.text).join(';\n'));
        return;
      }
      if (transaction === 'rollback') {
        this.#block = undefined;
        this.say('ROLLBACK: the transaction block was discarded, nothing was applied');
        return;
      }
      if (transaction === 'begin')
        throw refusedError('console.nested', 'a transaction block is already open');
      this.#block.statements.push(statement);
      this.say(
        `(in the block: ${this.#block.statements.length} statement${this.#block.statements.length === 1 ? '' : 's'}; COMMIT plans and confirms them, ROLLBACK discards them)`,
      );
      return;
    }
    if (transaction) {
      if (transaction === 'begin' && this.mode === 'write') {
        this.#block = { statements: [] };
        this.say('BEGIN: the statements up to COMMIT are planned and confirmed as one change');
        return;
      }
      this.say(
        `${statement.command}: ignored; in read-only mode each statement runs in its own READ ONLY transaction${transaction === 'begin' ? ' (\\write to plan a transaction block)' : ''}`,
      );
      return;
    }
    if (statement.effect === 'read') {
      await this.#read(sql, statement);
      return;
    }
    if (this.mode === 'read') {
      const { enforce } = await import('../sql/guard.js');
      try {
        enforce([statement], { write: false });
      } catch (error) {
        throw withHint(error, 'enter write mode with \\write to plan this change');
      }
      return;
    }
    await this.#write(statement.text);
  }

  async #read(sql: string, statement: AnalyzedStatement): Promise<void> {
    const { runAnalyzedRead } = await import('../ops/query.js');
    const started = performance.now();
    const target = this.resultSink();
    try {
      await runAnalyzedRead(this.context, sql, [statement], this.writer(target.sink), {
        showSecrets: this.options.showSecrets,
        command: 'console',
      });
    } finally {
      await target.done();
    }
    this.#timing(started);
  }

  async #write(sql: string): Promise<void> {
    const { performWrite } = await import('../ops/write/index.js');
    const { formatOutcome, formatPlan } = await import('../cli/render.js');
    const terminal = this.options.terminal;
    const started = performance.now();
    const outcome = await performWrite(
      this.context,
      { command: 'console', sql, allowAllRows: false },
      {
        onPlan: (plan) => {
          this.options.stdout.write(`${formatPlan(plan)}\n\n`);
        },
        confirm: async (plan) => {
          if (!terminal) {
            throw refusedError(
              'write.needs-confirmation',
              'not applied: the change needs confirmation and there is no terminal',
              { hint: 'run the change in an interactive console, or with coderdb query --write --yes' },
            );
          }
          const answer = await terminal.question(`Apply this change to "${plan.database}"? [y/N] `);
          return /^y(es)?$/i.test(answer.trim());
        },
      },
    );
    this.options.stdout.write(`${formatOutcome(outcome)}\n`);
    this.#timing(started);
    this.#touch();
  }

  #timing(started: number): void {
    if (this.timing) this.options.stdout.write(`Time: ${(performance.now() - started).toFixed(3)} ms\n`);
  }

  /** Runs one step; failures are reported (and refusals audited) and become an exit status. */
  async #guarded(step: () => Promise<void>, statement?: AnalyzedStatement): Promise<number> {
    this.#cancelled = false;
    try {
      await step();
      return 0;
    } catch (error) {
      // A failure inside \i or \e was reported where it happened.
      if (error instanceof CoderdbError && error.code === 'console.stopped') return error.exitCode;
      if (statement && error instanceof CoderdbError && error.kind === 'refused') {
        this.#auditRefusal(statement.auditText, error, 'refused');
      }
      if (error instanceof CoderdbError && error.sqlState === '57014' && this.#cancelled) {
        this.#cancelled = false;
        process.stderr.write('canceled: the statement was stopped; the session is still open\n');
        return 1;
      }
      this.#cancelled = false;
      return this.options.report(error);
    }
  }

  #auditRefusal(statement: string, error: unknown, outcome: 'refused' | 'error'): void {
    this.context.audit.append({
      identity: this.context.identity(),
      profile: this.context.profile.name,
      transport: this.options.held.transportName,
      target: this.context.transport.describe(),
      command: 'console',
      statement,
      outcome,
      error: error instanceof Error ? error.message : String(error),
      session: this.sessionId,
    });
  }

  // ── Ctrl-C ─────────────────────────────────────────────────────────────────────────────────

  #cancelled = false;
  #cancelling: Promise<void> | undefined;

  /** Ctrl-C while a statement runs: cancel it; a second Ctrl-C gives the session up. */
  interrupt(): void {
    if (!this.options.held.busy) return;
    if (this.#cancelling) {
      this.say('the session did not answer the cancel: abandoning it (the next statement opens a new one)');
      this.options.held.abandon();
      return;
    }
    this.#cancelled = true;
    process.stderr.write('^C cancel request sent\n');
    this.#cancelling = this.options.held
      .cancel()
      .catch((error: unknown) => {
        process.stderr.write(`coderdb: the cancel failed: ${(error as Error).message}\n`);
      })
      .finally(() => {
        this.#cancelling = undefined;
      });
  }

  // ── output ─────────────────────────────────────────────────────────────────────────────────

  writer(sink: Sink): ResultWriter {
    if (this.format !== 'table' || this.expanded === 'off') return createWriter(this.format, sink);
    if (this.expanded === 'on') return new ExpandedWriter(sink);
    const columns = this.options.terminal?.columns ?? 80;
    return new AutoExpandedWriter(sink, columns, (target) => createWriter('table', target));
  }

  /** Where a result goes: the `\o` file, else the pager when it may not fit, else stdout. */
  resultSink(): { sink: Sink; done: () => Promise<void> } {
    if (this.#output) {
      const sink = new Sink(this.#output.stream);
      return { sink, done: async () => undefined };
    }
    const terminal = this.options.terminal;
    // psql leaves a blank line after a table.
    const gap = this.format === 'table' ? '\n' : '';
    if (!terminal || !this.pager || this.format !== 'table') {
      const sink = new Sink(this.options.stdout);
      return { sink, done: async () => void (gap && (await sink.write(gap))) };
    }
    const sink = new PagedSink(this.options.stdout, {
      rows: terminal.rows,
      columns: terminal.columns,
      command: process.env.PAGER?.trim() || DEFAULT_PAGER,
      onStart: () => {
        terminal.suspend();
        ignoreInterrupts(true);
      },
      onEnd: () => {
        ignoreInterrupts(false);
        terminal.resume();
      },
    });
    return {
      sink,
      done: async () => {
        await sink.finish();
        if (!sink.abandoned) this.options.stdout.write(gap);
      },
    };
  }

  /** `\o FILE` sends results to a local file; `\o` alone back to the terminal. */
  async setOutput(file: string | undefined): Promise<void> {
    const previous = this.#output;
    this.#output = undefined;
    if (previous) await new Promise<void>((resolve) => previous.stream.end(resolve));
    if (!file) return;
    const stream = createWriteStream(file, { flags: 'w', mode: 0o600 });
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (error) =>
        reject(new CoderdbError('usage', 'console.output', `cannot write ${file}: ${error.message}`)),
      );
    });
    this.#output = { file, stream };
  }

  get outputFile(): string | undefined {
    return this.#output?.file;
  }

  /** Ends the console: the output file is closed and the held session ended for real. */
  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    await this.setOutput(undefined);
    await this.options.held.close();
  }
}

function transactionVerb(statement: AnalyzedStatement): 'begin' | 'commit' | 'rollback' | undefined {
  if (statement.type !== 'TransactionStmt') return undefined;
  const kind = String((statement.node as { kind?: unknown }).kind ?? '');
  if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') return 'begin';
  if (kind === 'TRANS_STMT_COMMIT') return 'commit';
  if (kind === 'TRANS_STMT_ROLLBACK') return 'rollback';
  return undefined;
}

function withHint(error: unknown, hint: string): unknown {
  if (!(error instanceof CoderdbError)) return error;
  return new CoderdbError(error.kind, error.code, error.message, { hint, cause: error });
}

let savedInterruptListeners: NodeJS.SignalsListener[] | undefined;
const ignore = () => undefined;

/**
 * While the pager or the editor has the terminal, Ctrl-C is theirs (as psql ignores SIGINT while
 * its pager runs): the CLI's own SIGINT handling is set aside and put back after.
 */
export function ignoreInterrupts(on: boolean): void {
  if (on && !savedInterruptListeners) {
    savedInterruptListeners = process.listeners('SIGINT') as NodeJS.SignalsListener[];
    process.removeAllListeners('SIGINT');
    process.on('SIGINT', ignore);
  } else if (!on && savedInterruptListeners) {
    process.off('SIGINT', ignore);
    for (const listener of savedInterruptListeners) process.on('SIGINT', listener);
    savedInterruptListeners = undefined;
  }
}
