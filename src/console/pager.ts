// Results taller or wider than the terminal go through $PAGER (default `less -SFRX`, as psql
// does). Output is held back only until it is known not to fit: then the pager starts, receives
// what was held and everything after it as it streams (its pipe slows the query down when the
// operator reads slowly), and the console waits for it to exit before the next prompt.

import { type ChildProcess, spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { Sink } from '../core/output/sink.js';

export const DEFAULT_PAGER = 'less -SFRX';

export interface PagerOptions {
  /** The terminal's size. */
  rows: number;
  columns: number;
  /** Shell command line of the pager. */
  command: string;
  /** Called around the pager's life: the console gives it the terminal and takes it back. */
  onStart: () => void;
  onEnd: () => void;
}

export class PagedSink extends Sink {
  readonly #options: PagerOptions;
  #held: string[] = [];
  #lines = 0;
  #column = 0;
  #pager: ChildProcess | undefined;
  #pagerSink: Sink | undefined;
  #exited: Promise<void> | undefined;
  #gone = false;

  constructor(stdout: Writable, options: PagerOptions) {
    super(stdout);
    this.#options = options;
  }

  override async write(text: string | Buffer): Promise<void> {
    if (this.#gone) return;
    const chunk = typeof text === 'string' ? text : text.toString('utf8');
    if (this.#pagerSink) {
      await this.#pagerSink.write(chunk);
      return;
    }
    this.#held.push(chunk);
    if (this.#overflows(chunk)) await this.#startPager();
  }

  /** Everything is written: shows what was held, or lets the pager finish. */
  async finish(): Promise<void> {
    if (this.#pager) {
      this.#pager.stdin?.end();
      await this.#exited;
      return;
    }
    const text = this.#held.join('');
    this.#held = [];
    await super.write(text);
  }

  /** The operator quit the pager before the result ended: the rest is not wanted. */
  get abandoned(): boolean {
    return this.#gone;
  }

  #overflows(chunk: string): boolean {
    for (const char of chunk) {
      if (char === '\n') {
        this.#lines += 1;
        this.#column = 0;
      } else {
        this.#column += 1;
        if (this.#column > this.#options.columns) return true;
      }
    }
    // One line stays for the prompt.
    return this.#lines > this.#options.rows - 1;
  }

  async #startPager(): Promise<void> {
    this.#options.onStart();
    const pager = spawn('/bin/sh', ['-c', this.#options.command], {
      stdio: ['pipe', 'inherit', 'inherit'],
      env: { ...process.env, LESS: process.env.LESS ?? '' },
    });
    this.#pager = pager;
    this.#exited = new Promise<void>((resolve) => {
      pager.once('close', () => {
        this.#gone = true;
        this.#options.onEnd();
        resolve();
      });
      pager.once('error', () => undefined);
    });
    // A pager that quits early closes its pipe: that ends the output, not the console.
    pager.stdin!.on('error', () => {
      this.#gone = true;
    });
    this.#pagerSink = new Sink(pager.stdin!);
    const held = this.#held.join('');
    this.#held = [];
    await this.#pagerSink.write(held);
  }
}
