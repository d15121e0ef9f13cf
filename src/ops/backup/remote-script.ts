// The shell scripts that run inside the Coder container over ECS Exec: probe, serial dump, the
// parallel dump's control and fetcher sessions, cleanup, and upload + restore. They are POSIX sh
// for dash and BusyBox ash (Coder's image is Alpine), use only tools both have, and speak the line
// framing of frame.ts. ECS Exec splits the command with shlex and execs it without a shell, so each
// script travels as `sh -c '<script>'` and must not contain a single quote.
//
// The database URL never appears here: scripts read it from the container's own environment
// variable (CODER_PG_CONNECTION_URL), so it is never on our command line, in the AWS API call or in
// CloudTrail.

import { CoderdbError } from '../../core/errors.js';
import { PG_ENV_FUNCTIONS, pgEnvFrom } from '../../transport/pg-env-script.js';

/** pg_dump waits at most this long for a table lock (a migration holding ACCESS EXCLUSIVE) and fails. */
export const LOCK_WAIT_TIMEOUT_MS = 60_000;
/** Granularity of parallel transfers: 4 × 64 KiB, read with dd at block offsets. */
export const CHUNK_BLOCKS = 4;
export const BLOCK_SIZE = 65_536;
export const CHUNK_SIZE = CHUNK_BLOCKS * BLOCK_SIZE;
/** Containers' leftover parallel-dump directories older than this are swept by the next one. */
const STALE_MINUTES = 24 * 60;
/** The container's temporary directory, as sh expands it. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: sh parameter expansion, not a template
const TMP = '${TMPDIR:-/tmp}';

export interface ScriptContext {
  nonce: string;
  /** The container's environment variable holding the database URL. */
  urlEnv: string;
}

/** `sh -c '<script>'`, the ExecuteCommand command. */
export function shellCommand(script: string): string {
  if (script.includes("'")) {
    throw new CoderdbError('internal', 'backup.script-quote', 'a container script contains a single quote');
  }
  return `sh -c '${script}'`;
}

/** Markers, temp-dir cleanup hooks and the URL check every script starts with. */
function prelude(context: ScriptContext): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(context.urlEnv)) {
    throw new CoderdbError(
      'usage',
      'backup.url-env',
      `"${context.urlEnv}" is not a valid environment variable name`,
    );
  }
  return [
    // Raw mode: no \n→\r\n, no echo of what we upload; ignored when there is no terminal.
    'stty raw -echo 2>/dev/null',
    'export LC_ALL=C',
    `N=${context.nonce}`,
    'M() { printf "@CDB:%s:%s\\n" "$N" "$*"; }',
    // A section with a command's stderr, when it wrote any.
    'E() { if [ -s "$D/$1.err" ]; then M begin $1.err; head -c 16384 "$D/$1.err" | base64; M end $1.err 0; fi; }',
    'M start',
    `U="$${context.urlEnv}"`,
    `[ -n "$U" ] || { M fail no-url ${context.urlEnv}; M done; exit 0; }`,
    // psql, pg_dump and pg_restore get the URL as PG* variables, never in their argv.
    PG_ENV_FUNCTIONS,
    pgEnvFrom('"$U"'),
    'unset U',
  ];
}

/** A private temporary directory removed when the script ends, however it ends. */
function privateTempDir(): string[] {
  return [
    `D=$(mktemp -d "${TMP}/coderdb-XXXXXX" 2>/dev/null) || { M fail mktemp; M done; exit 0; }`,
    'C() { rm -rf "$D"; }',
    'trap C EXIT',
    'trap "C; exit 129" HUP',
    'trap "C; exit 130" INT',
    'trap "C; exit 143" TERM',
  ];
}

/** The parallel dump's directory: a fixed name, shared by the control and fetcher sessions. */
function sharedDir(nonce: string): string {
  return `D="${TMP}/coderdb-backup-${nonce}"`;
}

/** Tools, OS, client versions, and the probe SQL's JSON (through psql, read-only). */
function probe(probeSql: string): string[] {
  const encoded = Buffer.from(probeSql, 'utf8').toString('base64');
  return [
    'M info tools $(for t in pg_dump pg_restore psql gzip base64 sha256sum tar dd; do command -v $t >/dev/null 2>&1 && printf "%s " $t; done)',
    'M info os $(sed -n "s/^ID=//p" /etc/os-release 2>/dev/null | tr -d "\\"")',
    'command -v pg_dump >/dev/null 2>&1 && M info pg_dump $(pg_dump --version 2>&1 | head -n 1)',
    'command -v pg_restore >/dev/null 2>&1 && M info pg_restore $(pg_restore --version 2>&1 | head -n 1)',
    'if command -v psql >/dev/null 2>&1; then',
    `  printf %s ${encoded} | base64 -d > "$D/probe.sql"`,
    '  M begin probe',
    '  { psql -X -A -t -q -v ON_ERROR_STOP=1 -f "$D/probe.sql" 2>"$D/probe.err"; echo $? >"$D/probe.rc"; } | base64',
    '  M end probe $(cat "$D/probe.rc" 2>/dev/null || echo 255)',
    '  E probe',
    'fi',
  ];
}

const requireTool = (tool: string, before: string[] = []) => [
  `if ! command -v ${tool} >/dev/null 2>&1; then ${[...before, `M fail missing ${tool}`].join('; ')}; M done; exit 0; fi`,
];

const gzipOrCat = 'if [ $Z = gzip ]; then gzip -1; else cat; fi';
const detectGzip = ['Z=none', 'command -v gzip >/dev/null 2>&1 && Z=gzip'];

/** Probe only: facts about the container, its tools and the database. */
export function probeScript(context: ScriptContext, probeSql: string): string {
  return [...prelude(context), ...privateTempDir(), ...probe(probeSql), 'M done'].join('\n');
}

/**
 * Serial backup: pg_dump -Fc | gzip -1 | base64 in one session. pg_dump's custom format compresses
 * table data already, but per block; gzip over the whole stream still saves 10–45% of what crosses
 * the ~1 MB/s channel (see BENCHMARKS.md) for little CPU in the container.
 */
export function serialDumpScript(context: ScriptContext, probeSql: string): string {
  return [
    ...prelude(context),
    ...privateTempDir(),
    ...requireTool('pg_dump'),
    ...detectGzip,
    // The database's size first, as the estimated total of the progress shown while the data flows.
    'command -v psql >/dev/null 2>&1 && M info size $(psql -X -A -t -q -c "SELECT pg_database_size(current_database())" 2>/dev/null)',
    'M begin data $Z',
    `{ pg_dump -Fc --no-password --lock-wait-timeout=${LOCK_WAIT_TIMEOUT_MS} 2>"$D/dump.err"; echo $? >"$D/dump.rc"; } | ${gzipOrCat} | base64`,
    'M end data $(cat "$D/dump.rc" 2>/dev/null || echo 255)',
    'E dump',
    // After the data, so the archive starts streaming at once; a version mismatch is explained
    // from these facts all the same.
    ...probe(probeSql),
    'M done',
  ].join('\n');
}

/**
 * Parallel backup, control session: pg_dump -Fd -j N into a directory the fetchers read from, with
 * --verbose so that they can start on each table's file as soon as pg_dump reports it finished.
 * Prints the final listing (name, size, SHA-256) that every transferred file is checked against.
 */
export function parallelControlScript(context: ScriptContext, probeSql: string, jobs: number): string {
  return [
    ...prelude(context),
    sharedDir(context.nonce),
    `find "${TMP}" -maxdepth 1 -name "coderdb-backup-*" -mmin +${STALE_MINUTES} -exec rm -rf {} + 2>/dev/null`,
    'mkdir -m 700 "$D" 2>/dev/null || { M fail mkdir; M done; exit 0; }',
    ...requireTool('pg_dump', ['echo 127 > "$D/rc"']),
    ': > "$D/log"',
    'mkdir "$D/claim"',
    // ECS Exec closes sessions idle for 20 minutes; a long dump prints nothing else.
    '( while kill -0 $$ 2>/dev/null; do sleep 30; M tick || exit 0; done ) & K=$!',
    // The dump starts at once, in the background; the probe runs meanwhile.
    `( pg_dump -Fd -j ${Math.trunc(jobs)} -v --no-password --lock-wait-timeout=${LOCK_WAIT_TIMEOUT_MS} -f "$D/dump" 2>"$D/log"; echo $? > "$D/rc.tmp"; mv "$D/rc.tmp" "$D/rc" ) & P=$!`,
    ...probe(probeSql),
    'wait $P',
    'kill $K 2>/dev/null',
    'R=$(cat "$D/rc")',
    'M info rc $R',
    'if [ "$R" = 0 ]; then (cd "$D/dump" && for f in *; do M file "$f" $(wc -c < "$f") $(sha256sum < "$f" | cut -c1-64); done); fi',
    'grep "^pg_dump: \\(error\\|detail\\|hint\\|warning\\)" "$D/log" | head -c 16384 > "$D/dump.err"',
    'E dump',
    'M done',
  ].join('\n');
}

/**
 * Parallel backup, fetcher session: claims 256 KiB chunks of the dump's files (mkdir is atomic, so
 * each chunk goes out exactly once across all fetchers) and sends each base64'd, gzip'd first
 * unless pg_dump compressed the file already. A table's file is followed while pg_dump still writes
 * it (it only ever appends): its whole chunks go out as they fill, marked with size `-`, and the
 * rest once pg_dump's "finished item" line names it; so the largest table streams during the dump
 * instead of after it. The control session's final listing checks every byte either way.
 */
export function parallelFetchScript(context: ScriptContext): string {
  const finishedFiles =
    'sed -n "s/^pg_dump: finished item \\([0-9][0-9]*\\) TABLE DATA .*/\\1/p" "$D/log" 2>/dev/null | ' +
    'while read -r n; do for x in "$n".dat.gz "$n".dat "$n".dat.lz4 "$n".dat.zst; do [ -f "$D/dump/$x" ] && echo "$x" && break; done; done';
  return [
    ...prelude(context),
    sharedDir(context.nonce),
    'i=0',
    'while [ ! -d "$D/claim" ]; do',
    '  [ -f "$D/rc" ] && break',
    '  i=$((i + 1)); [ $i -gt 3000 ] && { M fail no-dump; M done; exit 0; }',
    '  sleep 0.2 2>/dev/null || sleep 1',
    'done',
    ...detectGzip,
    'NL="',
    '"',
    'S=" "; t=0',
    'while :; do',
    '  F=0; [ -f "$D/rc" ] && F=1',
    '  if [ $F = 1 ]; then',
    '    [ "$(cat "$D/rc")" = 0 ] || break',
    '  else',
    `    W="$NL$(${finishedFiles})$NL"`,
    '  fi',
    '  for f in $(ls "$D/dump" 2>/dev/null); do',
    '    case "$S" in *" $f "*) continue;; esac',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: sh parameter expansion, not a template
    '    n=${f%%.*}; v=',
    // A table's data file (NNN.dat[.gz|.lz4|.zst]) keeps, per fetcher, the chunk to try next.
    '    case "$n" in ""|*[!0-9]*) ;; *) case "$f" in *.dat|*.dat.*) v=P$n;; esac;; esac',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: sh parameter expansion, not a template
    '    k=0; [ -n "$v" ] && eval "k=\\${$v:-0}"',
    '    whole=$F; [ $F = 0 ] && case "$W" in *"$NL$f$NL"*) whole=1;; esac',
    '    [ $whole = 0 ] && [ -z "$v" ] && continue',
    '    s=$(wc -c < "$D/dump/$f") || continue',
    '    if [ $whole = 1 ]; then',
    `      c=$(( (s + ${CHUNK_SIZE} - 1) / ${CHUNK_SIZE} )); [ $c -lt 1 ] && c=1; h=$s`,
    '    else',
    `      c=$(( s / ${CHUNK_SIZE} )); h=-`,
    '    fi',
    '    z=$Z; case "$f" in *.gz|*.lz4|*.zst) z=none;; esac',
    '    while [ $k -lt $c ]; do',
    '      if mkdir "$D/claim/$f.$k" 2>/dev/null; then',
    '        M begin chunk $f $k $h $z',
    `        dd if="$D/dump/$f" bs=${BLOCK_SIZE} skip=$((k * ${CHUNK_BLOCKS})) count=${CHUNK_BLOCKS} 2>/dev/null | if [ $z = gzip ]; then gzip -1; else cat; fi | base64`,
    '        M end chunk $?',
    '      fi',
    '      k=$((k + 1))',
    '    done',
    '    [ -n "$v" ] && eval "$v=$k"',
    '    [ $whole = 1 ] && S="$S$f "',
    '  done',
    '  [ $F = 1 ] && break',
    '  t=$((t + 1)); [ $((t % 100)) = 0 ] && M tick',
    '  sleep 0.2 2>/dev/null || sleep 1',
    'done',
    'M done',
  ].join('\n');
}

/** Removes the parallel dump's directory in the container. */
export function cleanupScript(context: ScriptContext): string {
  return [...prelude(context), sharedDir(context.nonce), 'rm -rf "$D"', 'M info removed $?', 'M done'].join(
    '\n',
  );
}

export interface RestoreScriptOptions {
  /** Length of the base64 text we will send (no newlines). */
  encodedLength: number;
  size: number;
  sha256: string;
  format: 'custom' | 'directory-tar';
  clean: boolean;
  countSql: string;
}

/**
 * Restore inside the container: receive the archive on stdin (base64, exactly encodedLength
 * characters, after the `ready` marker so that raw mode is on), check its SHA-256, unpack a
 * directory archive, pg_restore in one transaction, then count the rows it restored.
 */
export function restoreScript(context: ScriptContext, options: RestoreScriptOptions): string {
  if (!/^[0-9a-f]{64}$/.test(options.sha256))
    throw new CoderdbError('internal', 'backup.sha', 'bad checksum');
  const flags = [
    '--single-transaction',
    '--exit-on-error',
    '--no-owner',
    '--no-privileges',
    '--no-password',
    ...(options.clean ? ['--clean', '--if-exists'] : []),
  ].join(' ');
  const counts = Buffer.from(options.countSql, 'utf8').toString('base64');
  return [
    ...prelude(context),
    ...privateTempDir(),
    ...requireTool('pg_restore'),
    'M ready',
    `head -c ${Math.trunc(options.encodedLength)} | base64 -d > "$D/a"`,
    'H=$(sha256sum < "$D/a" | cut -c1-64)',
    'M info received $(wc -c < "$D/a") $H',
    `[ "$H" = "${options.sha256}" ] || { M fail checksum; M done; exit 0; }`,
    ...(options.format === 'directory-tar'
      ? [
          'mkdir "$D/x" && tar -xf "$D/a" -C "$D/x" 2>"$D/tar.err" || { E tar; M fail untar; M done; exit 0; }',
          'rm -f "$D/a"',
          'A="$D/x"; FMT=-Fd',
        ]
      : ['A="$D/a"; FMT=-Fc']),
    '( while kill -0 $$ 2>/dev/null; do sleep 30; M tick || exit 0; done ) & K=$!',
    // pg_restore writes a script unless -d names a database; the name alone is no secret.
    `pg_restore $FMT ${flags} -d "\${PGDATABASE:-\${PGUSER:-postgres}}" "$A" 2>"$D/restore.err"; R=$?`,
    'kill $K 2>/dev/null',
    'M info rc $R',
    'E restore',
    'if [ $R = 0 ] && command -v psql >/dev/null 2>&1; then',
    `  printf %s ${counts} | base64 -d > "$D/counts.sql"`,
    '  M begin counts',
    '  { psql -X -A -t -q -v ON_ERROR_STOP=1 -f "$D/counts.sql" 2>"$D/counts.err"; echo $? >"$D/counts.rc"; } | base64',
    '  M end counts $(cat "$D/counts.rc" 2>/dev/null || echo 255)',
    '  E counts',
    'fi',
    'M done',
  ].join('\n');
}
