// Start-up and direct-transport speed, as ratios against baselines measured in the same run:
// `coderdb --version` vs `node -e 0`, one `select 1` vs `psql -c` and vs `node -e 0` (the issue's
// budget: Node's own start + 150 ms), and a 1M-row CSV export vs `psql --csv` (time and peak
// memory, the latter also as rows grow; BENCH_STARTUP_ONLY=1 leaves the exports out). Every export's output is
// checked in the same run: CSV must have psql's md5, NDJSON one line per psql row; a figure for
// output that differs is refused, not printed.
//
// Needs dist/ (npm run build), Debian's PostgreSQL 15 (server and psql) and python3 (used only to
// read a child's peak RSS from getrusage).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '../sandbox/engines/postgres-server.js';
import { CLI, median } from './lib.js';

interface Run {
  seconds: number;
  rssMb: number;
  /** md5 and line count of what the command wrote to stdout. */
  md5: string;
  lines: number;
}

const OUTPUT = join(mkdtempSync(join(tmpdir(), 'coderdb-bench-out-')), 'stdout');

/**
 * Runs a command with stdout to a file; wall time, the child's peak RSS, and the output's md5 and
 * line count (read after the clock stops).
 */
function measure(command: string[], output = OUTPUT): Run {
  const probe = [
    'import hashlib, resource, subprocess, sys, time',
    'out = open(sys.argv[1], "wb")',
    't = time.perf_counter()',
    'p = subprocess.run(sys.argv[2:], stdout=out)',
    'd = time.perf_counter() - t',
    'out.close()',
    'r = resource.getrusage(resource.RUSAGE_CHILDREN)',
    'h, n = hashlib.md5(), 0',
    'with open(sys.argv[1], "rb") as f:',
    '    for block in iter(lambda: f.read(1 << 20), b""):',
    '        h.update(block)',
    '        n += block.count(b"\\n")',
    'print(d, r.ru_maxrss, p.returncode, h.hexdigest(), n)',
  ].join('\n');
  const result = spawnSync('python3', ['-c', probe, output, ...command], { encoding: 'utf8' });
  const [seconds, rssKb, code, md5, lines] = result.stdout.trim().split(' ');
  if (Number(code) !== 0) throw new Error(`${command.join(' ')} exited ${code}: ${result.stderr}`);
  return { seconds: Number(seconds), rssMb: Number(rssKb) / 1024, md5: md5!, lines: Number(lines) };
}

/** The output must be what psql printed: the same bytes (CSV), or one line per row (NDJSON). */
type Check = 'same-bytes' | 'one-line-per-row';

function checkOutput(check: Check, ours: Run, psql: Run, what: string): void {
  const ok = check === 'same-bytes' ? ours.md5 === psql.md5 : ours.lines === psql.lines - 1;
  if (!ok) {
    throw new Error(
      `refusing to report ${what}: its output differs from psql's (md5 ${ours.md5}, ${ours.lines} lines; psql ${psql.md5}, ${psql.lines} lines)`,
    );
  }
}

/** Alternates the two commands so that machine noise hits both alike; checks every output. */
function compare(runs: number, ours: string[], baseline: string[], check?: Check) {
  const a: Run[] = [];
  const b: Run[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(measure(ours));
    b.push(measure(baseline));
    if (check) checkOutput(check, a.at(-1)!, b.at(-1)!, ours.slice(2, 4).join(' '));
  }
  const ourTime = median(a.map((run) => run.seconds));
  const baseTime = median(b.map((run) => run.seconds));
  return {
    ours: ourTime,
    baseline: baseTime,
    ratio: ourTime / baseTime,
    ourRss: Math.max(...a.map((run) => run.rssMb)),
    baseRss: Math.max(...b.map((run) => run.rssMb)),
  };
}

const ms = (seconds: number) => `${(seconds * 1000).toFixed(0)} ms`;

// psql prints in the session's zone and style; coderdb sets UTC and ISO itself (SESSION_SETUP).
process.env.PGTZ = 'UTC';
process.env.PGDATESTYLE = 'ISO, MDY';
const server = await startPostgres();
try {
  const url = `${server.url('postgres')}?sslmode=disable`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const startupOnly = process.env.BENCH_STARTUP_ONLY === '1';
  if (!startupOnly)
    await client.query(`DROP TABLE IF EXISTS bench_rows;
    CREATE TABLE bench_rows AS
      SELECT g AS id, 'name-' || g AS name, now() - g * interval '1 second' AS ts, g % 2 = 0 AS flag,
             (g * 1.5)::numeric AS amount, md5(g::text) AS digest
        FROM generate_series(1, 3000000) g;
    ANALYZE bench_rows;
    -- A scan that joins one already running starts where that one is: other row order, other bytes.
    ALTER DATABASE postgres SET synchronize_seqscans = off;
    -- Nor may a parallel scan interleave its workers' rows differently in each run.
    ALTER DATABASE postgres SET max_parallel_workers_per_gather = 0;`);
  await client.end();

  const lines: string[] = [];
  const startup = compare(15, ['node', CLI, '--version'], ['node', '-e', '0']);
  lines.push(
    `| \`coderdb --version\` vs \`node -e 0\` | ${ms(startup.ours)} | ${ms(startup.baseline)} | **${startup.ratio.toFixed(2)}×** | goal ≤ 2× |`,
  );

  const select1 = compare(
    15,
    // CSV, whose bytes are psql's to the byte; the table format is checked value by value in the
    // differential tests (psql ends a table with an empty line coderdb does not print).
    ['node', CLI, 'query', 'select 1', '--url', url, '--format', 'csv'],
    ['psql', url, '-X', '--csv', '-c', 'select 1'],
    'same-bytes',
  );
  lines.push(
    `| \`query "select 1" --url --format csv\` vs \`psql --csv -c\` | ${ms(select1.ours)} | ${ms(select1.baseline)} | **${select1.ratio.toFixed(2)}×** | |`,
  );
  const overNode = compare(
    15,
    ['node', CLI, 'query', 'select 1', '--url', url, '--format', 'csv'],
    ['node', '-e', '0'],
  );
  lines.push(
    `| \`query "select 1" --url --format csv\` vs \`node -e 0\` | ${ms(overNode.ours)} | ${ms(overNode.baseline)} | **+${ms(overNode.ours - overNode.baseline)}** | goal ≤ +150 ms |`,
  );

  const growth: string[] = [];
  if (!startupOnly) {
    const exportRows = (rows: number) => `select * from bench_rows where id <= ${rows}`;
    const csv = compare(
      5,
      ['node', CLI, 'query', exportRows(1_000_000), '--url', url, '--format', 'csv'],
      ['psql', url, '-X', '--csv', '-c', exportRows(1_000_000)],
      'same-bytes',
    );
    lines.push(
      `| 1 M rows as CSV (md5 = psql's) vs \`psql --csv\` (time) | ${ms(csv.ours)} | ${ms(csv.baseline)} | **${csv.ratio.toFixed(2)}×** | goal ≤ 1.5× |`,
    );
    lines.push(
      `| 1 M rows as CSV vs \`psql --csv\` (peak RSS) | ${csv.ourRss.toFixed(0)} MB | ${csv.baseRss.toFixed(0)} MB | **${(csv.ourRss / csv.baseRss).toFixed(2)}×** | goal ≤ 150 MB |`,
    );
    const json = compare(
      3,
      ['node', CLI, 'query', exportRows(1_000_000), '--url', url, '--format', 'ndjson'],
      ['psql', url, '-X', '--csv', '-c', exportRows(1_000_000)],
      'one-line-per-row',
    );
    lines.push(
      `| 1 M rows as NDJSON (typed rows) vs \`psql --csv\` | ${ms(json.ours)} | ${ms(json.baseline)} | **${json.ratio.toFixed(2)}×** | |`,
    );

    for (const rows of [100_000, 1_000_000, 3_000_000]) {
      const csvRun = measure(
        ['node', CLI, 'query', exportRows(rows), '--url', url, '--format', 'csv'],
        `${OUTPUT}.csv`,
      );
      const ndjsonRun = measure(['node', CLI, 'query', exportRows(rows), '--url', url, '--format', 'ndjson']);
      const psqlRun = measure(['psql', url, '-X', '--csv', '-c', exportRows(rows)], `${OUTPUT}.psql`);
      if (csvRun.md5 !== psqlRun.md5) {
        // Where they part, for whoever has to find out why.
        process.stderr.write(
          spawnSync('sh', ['-c', `cmp "$0.csv" "$0.psql"; diff "$0.csv" "$0.psql" | head -4`, OUTPUT], {
            encoding: 'utf8',
          }).stdout,
        );
      }
      checkOutput('same-bytes', csvRun, psqlRun, `${rows} rows as CSV`);
      checkOutput('one-line-per-row', ndjsonRun, psqlRun, `${rows} rows as NDJSON`);
      growth.push(
        `| ${rows.toLocaleString('en-US')} | ${csvRun.rssMb.toFixed(0)} MB | ${ndjsonRun.rssMb.toFixed(0)} MB | ${psqlRun.rssMb.toFixed(0)} MB |`,
      );
    }
  }
  process.stdout.write(
    [
      '| Measurement | coderdb | baseline | ratio | |',
      '|---|---:|---:|---:|---|',
      ...lines,
      '',
      ...(startupOnly
        ? []
        : [
            'Peak RSS as the result grows (coderdb streams; psql holds the whole result):',
            '',
            '| rows | coderdb csv | coderdb ndjson | psql --csv |',
            '|---:|---:|---:|---:|',
            ...growth,
            '',
          ]),
    ].join('\n'),
  );
} finally {
  await server.stop();
  rmSync(dirname(OUTPUT), { recursive: true, force: true });
}
