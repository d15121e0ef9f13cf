// The framing of what a script in the container prints back through ECS Exec. The channel gives us
// only a pty's output: no exit status, no separate stderr, no end-of-data marker, and bytes that are
// not UTF-8 get mangled. So every script speaks in lines:
//
//   @CDB:<nonce>:<verb> <args…>      a marker (info, file, fail, tick, done, begin, end …)
//   base64 lines                     the body of a section, between `begin NAME …` and `end NAME STATUS…`
//
// The nonce is fresh per run and never appears literally in the command (the script prints it with
// printf "%s"), so nothing but the script's own printf can produce a marker. A run is complete only
// when `done` arrives; a stream that ends before it, a section without its `end`, or a line inside a
// section that is not base64 is a truncated or corrupted transfer, never a short backup. Exit
// statuses travel in `end` markers because the channel has none.

import { randomBytes } from 'node:crypto';
import { connectionError } from '../../core/errors.js';
import { scrub } from '../../core/secret.js';

export const MARKER = '@CDB:';

/** 12 hex characters: enough that no data line or stale session can collide with it. */
export function newNonce(): string {
  return randomBytes(6).toString('hex');
}

export interface SectionSink {
  write(bytes: Buffer): void | Promise<void>;
  end(status: string[]): void | Promise<void>;
}

export interface FrameHandlers {
  /** Every marker outside a section except begin/done: info, file, fail, tick … */
  event?(verb: string, args: string[]): void;
  /** Where a section's decoded bytes go; returning undefined collects them (bounded) instead. */
  section?(name: string, args: string[]): SectionSink | undefined;
}

export interface CollectedSection {
  args: string[];
  status: string[];
  data: Buffer;
}

export interface FrameOutcome {
  /** The script reached its end marker. */
  done: boolean;
  /** A section that began and never ended: the stream was cut inside it. */
  openSection: string | undefined;
  sections: Map<string, CollectedSection>;
  /** Lines outside any marker (shell errors, banners); the last few, scrubbed, for diagnostics. */
  noise: string[];
  /** Bytes of base64 text received inside sections. */
  encodedBytes: number;
}

const MAX_LINE = 64 * 1024;
const MAX_COLLECTED = 32 * 1024 * 1024;
const NOISE_LINES = 20;
const BASE64_LINE = /^[A-Za-z0-9+/=]*$/;

interface OpenSection {
  name: string;
  args: string[];
  sink: SectionSink | undefined;
  chunks: Buffer[];
  size: number;
  carry: string;
}

export class FrameReader {
  readonly #prefix: string;
  readonly #handlers: FrameHandlers;
  #partial = '';
  #section: OpenSection | undefined;
  #done = false;
  #collected = 0;
  #encodedBytes = 0;
  readonly #sections = new Map<string, CollectedSection>();
  readonly #noise: string[] = [];

  constructor(nonce: string, handlers: FrameHandlers = {}) {
    this.#prefix = `${MARKER}${nonce}:`;
    this.#handlers = handlers;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Feeds output bytes; resolves once sinks have taken them (back-pressure reaches the channel). */
  async write(chunk: Buffer): Promise<void> {
    if (this.#done) return;
    // latin1 maps bytes 1:1, so markers and base64 (ASCII) survive and nothing is lost.
    const text = this.#partial + chunk.toString('latin1');
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    if (this.#partial.length > MAX_LINE) {
      if (this.#section) throw corrupt('a line in the data stream is far too long');
      this.#pushNoise(`${this.#partial.slice(0, 200)}…`);
      this.#partial = '';
    }
    for (const raw of lines) {
      if (this.#done) return;
      await this.#line(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    }
  }

  /** The stream has ended: the outcome, without judging it (callers decide what is fatal). */
  end(): FrameOutcome {
    if (this.#partial !== '' && !this.#done) {
      const last = this.#partial.replace(/\r$/, '');
      this.#partial = '';
      // Only a complete marker counts; a cut-off last line is noise (or truncation, judged below).
      if (!this.#section && !last.startsWith(this.#prefix)) this.#pushNoise(last);
    }
    return {
      done: this.#done,
      openSection: this.#section?.name,
      sections: this.#sections,
      noise: [...this.#noise],
      encodedBytes: this.#encodedBytes,
    };
  }

  async #line(line: string): Promise<void> {
    if (line.startsWith(this.#prefix)) {
      const [verb = '', ...args] = line.slice(this.#prefix.length).split(' ');
      await this.#marker(verb, args);
      return;
    }
    const section = this.#section;
    if (!section) {
      if (line.trim() !== '') this.#pushNoise(line);
      return;
    }
    if (!BASE64_LINE.test(line)) {
      throw corrupt(`unexpected output inside the "${section.name}" data: ${describeNoise(line)}`);
    }
    this.#encodedBytes += line.length + 1;
    const text = section.carry + line;
    const usable = text.length - (text.length % 4);
    section.carry = text.slice(usable);
    if (usable === 0) return;
    const bytes = Buffer.from(text.slice(0, usable), 'base64');
    if (section.sink) {
      await section.sink.write(bytes);
    } else {
      section.size += bytes.length;
      this.#collected += bytes.length;
      if (this.#collected > MAX_COLLECTED)
        throw corrupt(`the "${section.name}" section is unexpectedly large`);
      section.chunks.push(bytes);
    }
  }

  async #marker(verb: string, args: string[]): Promise<void> {
    const section = this.#section;
    if (verb === 'end' && section && args[0] === section.name) {
      if (section.carry !== '')
        throw corrupt(`the "${section.name}" data ends in the middle of a base64 group`);
      this.#section = undefined;
      const status = args.slice(1);
      if (section.sink) await section.sink.end(status);
      else
        this.#sections.set(section.name, { args: section.args, status, data: Buffer.concat(section.chunks) });
      return;
    }
    if (section) throw corrupt(`marker "${verb}" arrived inside the unfinished "${section.name}" data`);
    if (verb === 'begin') {
      const [name = '', ...rest] = args;
      this.#section = {
        name,
        args: rest,
        sink: this.#handlers.section?.(name, rest),
        chunks: [],
        size: 0,
        carry: '',
      };
      return;
    }
    if (verb === 'done') {
      this.#done = true;
      return;
    }
    this.#handlers.event?.(verb, args);
  }

  #pushNoise(line: string): void {
    this.#noise.push(describeNoise(line));
    if (this.#noise.length > NOISE_LINES) this.#noise.shift();
  }
}

function describeNoise(line: string): string {
  const text = Buffer.from(line, 'latin1').toString('utf8');
  const printable = text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
  return scrub(printable.length > 200 ? `${printable.slice(0, 200)}…` : printable);
}

function corrupt(message: string) {
  return connectionError('backup.stream-corrupt', `the backup stream is corrupted: ${message}`, {
    hint: 'the transfer through ECS Exec was damaged and nothing was kept; run it again (`coderdb doctor` if it keeps happening)',
  });
}
