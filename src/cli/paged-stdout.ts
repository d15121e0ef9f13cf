// A list command's stdout: on a terminal, output taller or wider than it goes through $PAGER
// (default `less -SFRX`), as psql does; piped or redirected output is written as it is. An empty
// $PAGER, as for psql, means no pager.

import { Sink } from '../core/output/sink.js';

export interface PagedOutput {
  sink: Sink;
  /** Shows what was held back, or waits for the pager to exit. */
  done(): Promise<void>;
}

export async function pagedStdout(format: string, stdout = process.stdout): Promise<PagedOutput> {
  const command = process.env.PAGER === undefined ? undefined : process.env.PAGER.trim();
  if (!stdout.isTTY || format !== 'table' || command === '') {
    return { sink: new Sink(stdout), done: async () => undefined };
  }
  const [{ DEFAULT_PAGER, PagedSink }, { ignoreInterrupts }] = await Promise.all([
    import('../console/pager.js'),
    import('../console/console.js'),
  ]);
  const sink = new PagedSink(stdout, {
    rows: stdout.rows,
    columns: stdout.columns,
    command: command ?? DEFAULT_PAGER,
    // While the pager has the terminal, Ctrl-C is the pager's (psql ignores SIGINT then too).
    onStart: () => ignoreInterrupts(true),
    onEnd: () => ignoreInterrupts(false),
  });
  return { sink, done: () => sink.finish() };
}
