// Backup throughput over ECS Exec, serial vs --parallel 4, against the sandbox with the real agent's
// pacing (1 KiB messages ~1 ms apart: about 1 MB/s per channel) and a PostgreSQL database of more
// than 100 MB; the baselines are pg_dump straight to the database and `coderdb backup` over direct,
// measured in the same run. Also measures what gzip -1 saves on the custom-format stream.
//
//   npm run build && npm run bench -- backup

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '../test/helpers/sandbox.js';
import { sql } from '../test/ops/backup/helpers.js';

const SCALE = Number(process.env.BENCH_SCALE ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
/**
 * The generated demo data is so repetitive that gzip leaves almost nothing to carry; real Coder
 * databases hold Terraform state, logs and audit diffs that compress far less. A table of random
 * hex (about half its size after compression) makes the channel, not set-up, what is measured.
 */
const PAYLOAD_MB = Number(process.env.BENCH_PAYLOAD_MB ?? 60);

const sandbox = await startSandbox({ engine: 'postgres', scale: SCALE, realisticPacing: true });
const out = mkdtempSync(join(tmpdir(), 'coderdb-bench-backup-'));
try {
  const url = sandbox.state.databaseUrl;
  const rows = Math.round((PAYLOAD_MB * 1e6) / 256);
  await sql(
    url,
    `CREATE TABLE bench_payload AS SELECT g AS id, ${Array.from({ length: 8 }, () => 'md5(random()::text)').join(' || ')} AS body
       FROM generate_series(1, ${rows}) g`,
  );
  const [row] = await sql<{ size: string }>(url, 'SELECT pg_database_size(current_database()) AS size');
  const databaseBytes = Number(row?.size);

  const timed = (label: string, run: () => string): { label: string; seconds: number; bytes: number } => {
    let best = Number.POSITIVE_INFINITY;
    let bytes = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const started = performance.now();
      const file = run();
      best = Math.min(best, (performance.now() - started) / 1000);
      bytes = statSync(file).size;
      rmSync(file, { force: true });
      rmSync(`${file}.manifest.json`, { force: true });
    }
    return { label, seconds: best, bytes };
  };
  let counter = 0;
  const coderdb =
    (...args: string[]) =>
    () => {
      const file = join(out, `b${counter++}${args.includes('--parallel') ? '.tar' : '.dump'}`);
      const result = spawnSync(
        process.execPath,
        [join(import.meta.dirname, '..', 'dist', 'cli.js'), ...args, '--out', file],
        {
          env: sandbox.env,
          encoding: 'utf8',
          timeout: 600_000,
        },
      );
      if (result.status !== 0) throw new Error(`coderdb ${args.join(' ')} failed: ${result.stderr}`);
      return file;
    };
  const pgDump = () => {
    const file = join(out, `p${counter++}.dump`);
    execFileSync('pg_dump', ['-Fc', '-f', file, url]);
    return file;
  };

  const results = [
    timed('pg_dump -Fc, straight to the database (baseline)', pgDump),
    timed('`coderdb backup` over direct', coderdb('backup')),
    timed('`coderdb backup` over exec, serial', coderdb('--transport', 'exec', 'backup')),
    timed(
      '`coderdb backup` over exec, --parallel 2',
      coderdb('--transport', 'exec', 'backup', '--parallel', '2'),
    ),
    timed(
      '`coderdb backup` over exec, --parallel 4',
      coderdb('--transport', 'exec', 'backup', '--parallel', '4'),
    ),
  ];
  const serial = results[2]!;
  const direct = results[0]!;

  const custom = execFileSync('sh', ['-c', `pg_dump -Fc "$0" | wc -c`, url], { encoding: 'utf8' });
  const gzipped = execFileSync('sh', ['-c', `pg_dump -Fc "$0" | gzip -1 | wc -c`, url], { encoding: 'utf8' });

  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  const lines = [
    `Database: ${mb(databaseBytes)} MB (sandbox --scale ${SCALE} plus ${PAYLOAD_MB} MB of random hex, PostgreSQL engine, --realistic-pacing); best of ${ROUNDS} runs each.`,
    '',
    '| method | time (s) | archive (MB) | DB MB/s | vs exec serial | vs direct pg_dump |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...results.map(
      (row) =>
        `| ${row.label} | ${row.seconds.toFixed(1)} | ${mb(row.bytes)} | ${(databaseBytes / 1e6 / row.seconds).toFixed(1)} | ${(serial.seconds / row.seconds).toFixed(2)}× | ${(direct.seconds / row.seconds).toFixed(2)}× |`,
    ),
    '',
    `Custom-format stream: ${mb(Number(custom))} MB from pg_dump -Fc, ${mb(Number(gzipped))} MB after gzip -1 ` +
      `(${(100 - (100 * Number(gzipped)) / Number(custom)).toFixed(0)}% less to carry over a ~1 MB/s channel).`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(out, { recursive: true, force: true });
  await sandbox.stop();
}
