// Warm sessions (coderdb connect) in one run against a sandbox (Debian PostgreSQL engine) paced like
// the real agent (--realistic-pacing): a whole one-shot `coderdb query "select 1"` through a warm
// holder (tunnel, then exec), against a direct one-shot to the same database (the baseline) and a
// cold one-shot that opens and ends its own SSM session; and ten such commands in a row. Every
// command's output is checked (exit 0 and the one row) before its time counts. Prints time ratios.
// The official AWS CLI path is not measured here (see the exec benchmark when it is on PATH).
//
// Needs dist/ (npm run build) and Debian's PostgreSQL 15 server.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { cli, commandTime, isolatedHome, ms, tableRow, timed } from './lib.js';

const home = isolatedHome('warm');
process.env.XDG_RUNTIME_DIR = join(home, 'run');

/** What `select 1` prints as JSON, on every path: a figure for other output is refused. */
const EXPECTED = '[\n  {"?column?":1}\n]\n';

const query = (transport: string, ...extra: string[]) => [
  '--transport',
  transport,
  ...extra,
  'query',
  'select 1',
  '--format',
  'json',
];

/** Starts a warm holder for `transport` and returns once it is ready. */
function connect(transport: string): void {
  const connected = cli(['--transport', transport, 'connect', '--for', '10m']);
  if (connected.code !== 0) throw new Error(`coderdb connect failed: ${connected.stderr}`);
}

/** Wall time of `count` one-shot commands one after another, in ms. */
async function series(count: number, args: string[]): Promise<number> {
  return timed(() => {
    for (let i = 0; i < count; i++) {
      const result = cli(args);
      if (result.code !== 0) throw new Error(`coderdb ${args.join(' ')} failed: ${result.stderr}`);
      if (result.stdout !== EXPECTED) throw new Error(`coderdb ${args.join(' ')} printed ${result.stdout}`);
    }
  });
}

try {
  const started = cli(['sandbox', 'start', '--engine', 'postgres', '--realistic-pacing']);
  if (started.code !== 0) throw new Error(`sandbox start failed: ${started.stderr}`);
  // Warm-up: the compile cache and the file system cache, for every path alike.
  for (const args of [query('direct'), query('tunnel', '--no-reuse'), query('exec', '--no-reuse')]) cli(args);

  const direct = commandTime(7, query('direct'), EXPECTED);
  const cold = commandTime(7, query('tunnel', '--no-reuse'), EXPECTED);
  connect('tunnel');
  const warm = commandTime(7, query('tunnel'), EXPECTED);
  const [tenWarm, tenDirect] = [await series(10, query('tunnel')), await series(10, query('direct'))];
  cli(['disconnect', '--all']);

  const coldExec = commandTime(7, query('exec', '--no-reuse'), EXPECTED);
  connect('exec');
  const warmExec = commandTime(7, query('exec'), EXPECTED);
  const tenWarmExec = await series(10, query('exec'));
  cli(['disconnect', '--all']);

  const rows = [
    ['direct one-shot (baseline)', ms(direct), '1.00×'],
    ['cold tunnel one-shot (own SSM session)', ms(cold), `**${(cold / direct).toFixed(2)}×**`],
    ['one-shot through a warm tunnel holder', ms(warm), `**${(warm / direct).toFixed(2)}×**`],
    ['… warm vs cold tunnel', ms(warm), `**${(warm / cold).toFixed(2)}×** of cold`],
    ['ten commands in a row, warm tunnel', ms(tenWarm), `**${(tenWarm / tenDirect).toFixed(2)}×**`],
    ['ten commands in a row, direct', ms(tenDirect), '1.00×'],
    ['cold exec one-shot (own ECS Exec session)', ms(coldExec), `**${(coldExec / direct).toFixed(2)}×**`],
    ['one-shot through a warm exec holder', ms(warmExec), `**${(warmExec / direct).toFixed(2)}×**`],
    ['… warm vs cold exec', ms(warmExec), `**${(warmExec / coldExec).toFixed(2)}×** of cold`],
    ['ten commands in a row, warm exec', ms(tenWarmExec), `**${(tenWarmExec / tenDirect).toFixed(2)}×**`],
  ];
  process.stdout.write(
    [
      'Paced like the real agent (`--realistic-pacing`); whole `coderdb query "select 1"` commands, medians of 7:',
      '',
      '| Measurement | wall time | ratio to direct |',
      '|---|---:|---:|',
      ...rows.map(tableRow),
      '',
    ].join('\n'),
  );
} finally {
  cli(['disconnect', '--all']);
  cli(['sandbox', 'stop']);
  rmSync(home, { recursive: true, force: true });
}
