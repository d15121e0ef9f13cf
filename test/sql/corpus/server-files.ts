// Reading, listing and writing files on the database server, which coderdb refuses as it refuses
// COPY … FROM a file: in read-only mode every one, through any door.

import type { GuardCase } from '../cases.js';

const FILE =
  /file on the database server|directory on the database server|configuration file|server file|pg_hba|pg_ident|program|files on the database server/;

const READS: [string, string][] = [
  ['pg_read_file of the configuration', "SELECT pg_read_file('postgresql.conf')"],
  ['pg_read_file with offset and length', "SELECT pg_read_file('PG_VERSION', 0, 2)"],
  ['pg_read_file, missing_ok', "SELECT pg_read_file('/etc/passwd', 0, 100, true)"],
  ['pg_read_file of an absolute path', "SELECT pg_read_file('/etc/hostname')"],
  ['pg_read_binary_file', "SELECT pg_read_binary_file('PG_VERSION')"],
  ['pg_read_binary_file with a range', "SELECT pg_read_binary_file('PG_VERSION', 0, 1)"],
  ['schema-qualified pg_read_file', "SELECT pg_catalog.pg_read_file('PG_VERSION')"],
  ['pg_read_file in FROM', "SELECT * FROM pg_read_file('PG_VERSION') AS f"],
  ['pg_read_file in a subquery', "SELECT length((SELECT pg_read_file('PG_VERSION')))"],
  ['pg_read_file under EXPLAIN ANALYZE', "EXPLAIN ANALYZE SELECT pg_read_file('PG_VERSION')"],
  ['pg_ls_dir of the data directory', "SELECT * FROM pg_ls_dir('.')"],
  ['pg_ls_dir with options', "SELECT pg_ls_dir('.', true, false)"],
  ['pg_ls_dir of /tmp', "SELECT pg_ls_dir('/tmp')"],
  ['pg_stat_file', "SELECT * FROM pg_stat_file('PG_VERSION')"],
  ['pg_stat_file, missing_ok', "SELECT pg_stat_file('/nope', true)"],
  ['pg_ls_logdir', 'SELECT * FROM pg_ls_logdir()'],
  ['pg_ls_waldir', 'SELECT count(*) FROM pg_ls_waldir()'],
  ['pg_ls_tmpdir', 'SELECT * FROM pg_ls_tmpdir()'],
  ['pg_ls_archive_statusdir', 'SELECT * FROM pg_ls_archive_statusdir()'],
  ['pg_ls_replslotdir', "SELECT * FROM pg_ls_replslotdir('x')"],
  ['pg_ls_logicalsnapdir', 'SELECT * FROM pg_ls_logicalsnapdir()'],
  ['pg_ls_logicalmapdir', 'SELECT * FROM pg_ls_logicalmapdir()'],
  ['pg_current_logfile', 'SELECT pg_current_logfile()'],
  ['lo_import of a server file', "SELECT lo_import('/etc/hostname')"],
  ['lo_import with an oid', "SELECT lo_import('/etc/hostname', 424242)"],
  ['pg_read_file in attribute notation', "SELECT ('PG_VERSION'::text).pg_read_file"],
  ['pg_ls_dir in attribute notation over a column', "SELECT (d).pg_ls_dir FROM (SELECT '.'::text AS d) AS x"],
  ['pg_hba_file_rules', 'SELECT * FROM pg_hba_file_rules'],
  ['qualified pg_hba_file_rules', 'SELECT count(*) FROM pg_catalog.pg_hba_file_rules'],
  ['pg_ident_file_mappings', 'SELECT * FROM pg_ident_file_mappings'],
  ['pg_file_settings', 'SELECT sourcefile, name FROM pg_file_settings'],
  ['adminpack pg_file_read', "SELECT pg_file_read('postgresql.conf', 0, 10)"],
  ['adminpack pg_logdir_ls', 'SELECT * FROM pg_logdir_ls()'],
];

export const SERVER_FILES: GuardCase[] = [
  ...READS.map(
    ([name, sql]): GuardCase => ({
      name: `files: ${name}`,
      sql,
      expect: 'write',
      why: FILE,
      server: 'undone',
    }),
  ),
  {
    name: 'files: COPY FROM a server file',
    sql: "COPY t FROM '/etc/hostname'",
    expect: 'forbidden',
    why: FILE,
    server: 'unsafe',
  },
  {
    name: 'files: COPY TO a server file',
    sql: "COPY t TO '/tmp/coderdb-corpus-out'",
    expect: 'forbidden',
    why: FILE,
    server: 'unsafe',
  },
  {
    name: 'files: COPY a query TO a relative server file',
    sql: "COPY (SELECT 1) TO 'coderdb-corpus-out'",
    expect: 'forbidden',
    why: FILE,
    server: 'unsafe',
  },
  {
    name: 'files: COPY TO PROGRAM',
    sql: "COPY (SELECT 1) TO PROGRAM 'touch /tmp/coderdb-pwned'",
    expect: 'forbidden',
    why: FILE,
    server: 'unsafe',
  },
  {
    name: 'files: lo_export to a server file',
    sql: "SELECT lo_export(oid, '/tmp/coderdb-corpus-out') FROM pg_largeobject_metadata",
    expect: 'write',
    why: FILE,
    server: 'unsafe',
  },
  {
    name: 'files: adminpack pg_file_write',
    sql: "SELECT pg_file_write('/tmp/coderdb-corpus-out', 'x', false)",
    expect: 'write',
    why: FILE,
  },
  { name: 'files: COPY TO STDOUT is a read', sql: 'COPY (SELECT * FROM t) TO STDOUT', expect: 'read' },
  {
    name: 'files: a file name in a string is just a string',
    sql: "SELECT '/etc/passwd' AS path, 'pg_read_file' AS fn",
    expect: 'read',
  },
  {
    name: 'files: a column named like a file function',
    sql: 'SELECT x.pg_read_file FROM (SELECT 1 AS pg_read_file) AS x',
    expect: 'write',
    why: FILE,
    server: 'undone',
  },
];
