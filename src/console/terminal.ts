// The console's keyboard: node:readline for line editing, history and completion, fed from the
// terminal in raw mode by this module, which sees every key first. That is how Ctrl-C while a
// statement runs becomes a cancel (there is no SIGINT in raw mode, so the console itself survives),
// how Ctrl-R gets a reverse history search (readline has none), and how the terminal is handed
// to a pager or an editor and taken back.

import { createInterface, type Interface } from 'node:readline';
import { PassThrough } from 'node:stream';
import type { ReadStream, WriteStream } from 'node:tty';

export type Completer = (line: string) => Promise<[string[], string]>;

export interface TerminalOptions {
  history: string[];
  historySize: number;
  completer: Completer;
  /** The history changed (newest first). */
  onHistory: (history: string[]) => void;
}

/** What a prompt ends with: a line, Ctrl-C (clear the buffer) or Ctrl-D (end of input). */
export type LineResult = { kind: 'line'; text: string } | { kind: 'interrupt' } | { kind: 'eof' };

const CTRL_C = 0x03;
const CTRL_R = 0x12;

export class Terminal {
  readonly #stdin: ReadStream;
  readonly #stdout: WriteStream;
  readonly #keys = new PassThrough();
  readonly #rl: Interface;
  #busy = false;
  #suspended = false;
  #closed = false;
  #search: { query: string; skip: number } | undefined;
  #pending: ((result: LineResult) => void) | undefined;
  /** Lines finished while no prompt waited for them (typed ahead). */
  readonly #lines: LineResult[] = [];
  /** Keys typed while a statement ran, given to the next prompt. */
  #typeahead: Buffer[] = [];
  /** Ctrl-C while no prompt is shown (a statement runs). */
  onInterrupt: () => void = () => undefined;

  constructor(stdin: ReadStream, stdout: WriteStream, options: TerminalOptions) {
    this.#stdin = stdin;
    this.#stdout = stdout;
    this.#rl = createInterface({
      input: this.#keys,
      output: stdout,
      terminal: true,
      history: options.history,
      historySize: options.historySize,
      removeHistoryDuplicates: true,
      completer: (line: string, callback: (error: Error | null, result: [string[], string]) => void) => {
        options.completer(line).then(
          (result) => callback(null, result),
          () => callback(null, [[], line]),
        );
      },
    });
    this.#rl.on('history', (history: string[]) => options.onHistory(history));
    this.#rl.on('line', (text) => this.#settle({ kind: 'line', text }));
    this.#rl.on('SIGINT', () => {
      // As psql: Ctrl-C at the prompt throws the line (and the query buffer) away.
      this.#rl.write(null, { ctrl: true, name: 'e' });
      this.#rl.write(null, { ctrl: true, name: 'u' });
      this.#stdout.write('^C\n');
      this.#settle({ kind: 'interrupt' });
    });
    this.#rl.on('close', () => this.#settle({ kind: 'eof' }));
    this.#stdin.setRawMode(true);
    this.#stdin.on('data', this.#onData);
    this.#stdin.resume();
  }

  get columns(): number {
    return this.#stdout.columns || 80;
  }

  get rows(): number {
    return this.#stdout.rows || 24;
  }

  get history(): string[] {
    return (this.#rl as unknown as { history: string[] }).history;
  }

  /** Drops the newest `count` history lines (a statement that set a password). */
  forget(count: number): void {
    const history = this.history;
    history.splice(0, count);
    this.#rl.emit('history', history);
  }

  /** Shows `prompt` and resolves with what the operator did. */
  readLine(prompt: string): Promise<LineResult> {
    if (this.#closed) return Promise.resolve({ kind: 'eof' });
    this.#busy = false;
    this.#rl.setPrompt(prompt);
    return new Promise<LineResult>((resolve) => {
      const ready = this.#lines.shift();
      if (ready) {
        // Typed ahead in the same burst as the previous line; readline has echoed it already.
        resolve(ready);
        return;
      }
      this.#pending = resolve;
      this.#rl.prompt();
      const typeahead = this.#typeahead;
      this.#typeahead = [];
      for (const chunk of typeahead) this.#onData(chunk);
    }).finally(() => {
      this.#busy = true;
    });
  }

  /** Asks one question (a confirmation); the answer does not go to the history. */
  async question(text: string): Promise<string> {
    const size = this.history.length;
    const answer = await this.readLine(text);
    if (this.history.length > size) this.forget(this.history.length - size);
    return answer.kind === 'line' ? answer.text : '';
  }

  /** Prints a line above the prompt without disturbing what is being typed. */
  notice(line: string): void {
    if (this.#busy) {
      this.#stdout.write(`${line}\n`);
      return;
    }
    this.#stdout.write(`\r\x1b[K${line}\n`);
    this.#rl.prompt(true);
  }

  setPrompt(prompt: string): void {
    this.#rl.setPrompt(prompt);
  }

  /** Gives the terminal to another program (pager, editor) until resume(). */
  suspend(): void {
    this.#suspended = true;
    this.#stdin.setRawMode(false);
    this.#stdin.pause();
  }

  resume(): void {
    this.#suspended = false;
    this.#stdin.setRawMode(true);
    this.#stdin.resume();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stdin.off('data', this.#onData);
    this.#stdin.setRawMode(false);
    this.#stdin.pause();
    this.#rl.close();
  }

  #settle(result: LineResult): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) pending(result);
    else if (result.kind === 'line') this.#lines.push(result);
  }

  readonly #onData = (data: Buffer) => {
    if (this.#suspended) return;
    if (this.#busy || !this.#pending) {
      // Ctrl-C while a statement runs cancels it (and drops what was typed ahead); other keys wait
      // for the next prompt.
      if (data.includes(CTRL_C)) {
        this.#typeahead = [];
        this.onInterrupt();
      } else {
        this.#typeahead.push(Buffer.from(data));
      }
      return;
    }
    if (this.#search) {
      this.#searchKeys(data);
      return;
    }
    const at = data.indexOf(CTRL_R);
    if (at < 0) {
      this.#keys.write(data);
      return;
    }
    if (at > 0) this.#keys.write(data.subarray(0, at));
    this.#search = { query: '', skip: 0 };
    this.#drawSearch();
    if (at + 1 < data.length) this.#searchKeys(data.subarray(at + 1));
  };

  // ── Ctrl-R: reverse incremental search, as in bash and psql's readline ──────────────────────

  #match(): string | undefined {
    const search = this.#search!;
    let skip = search.skip;
    for (const line of this.history) {
      if (!line.includes(search.query)) continue;
      if (skip-- === 0) return line;
    }
    return undefined;
  }

  #drawSearch(): void {
    const search = this.#search!;
    const match = this.#match();
    const label = match === undefined && search.query ? 'failing reverse-i-search' : 'reverse-i-search';
    this.#stdout.write(`\r\x1b[K(${label})'${search.query}': ${match ?? ''}`);
  }

  #searchKeys(data: Buffer): void {
    const search = this.#search!;
    const text = data.toString('utf8');
    for (let index = 0; index < text.length; index++) {
      const char = text[index]!;
      const code = char.charCodeAt(0);
      if (code === CTRL_R) {
        if (this.#match() !== undefined) search.skip += 1;
        if (this.#match() === undefined) search.skip = Math.max(0, search.skip - 1);
      } else if (code === 0x7f || code === 0x08) {
        search.query = search.query.slice(0, -1);
        search.skip = 0;
      } else if (code === CTRL_C || code === 0x07) {
        this.#endSearch(undefined, false);
        return;
      } else if (code === 0x0d || code === 0x0a) {
        this.#endSearch(this.#match(), true);
        return;
      } else if (code < 0x20) {
        // Escape, arrows and other controls: take the match onto the line for editing.
        this.#endSearch(this.#match(), false);
        return;
      } else {
        search.query += char;
        search.skip = 0;
      }
    }
    this.#drawSearch();
  }

  #endSearch(match: string | undefined, submit: boolean): void {
    this.#search = undefined;
    this.#stdout.write('\r\x1b[K');
    this.#rl.write(null, { ctrl: true, name: 'e' });
    this.#rl.write(null, { ctrl: true, name: 'u' });
    if (match !== undefined) this.#rl.write(match);
    this.#rl.prompt(true);
    if (submit) this.#keys.write('\r');
  }
}
