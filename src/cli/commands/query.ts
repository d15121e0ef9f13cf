// coderdb query: SQL from an argument, -f FILE or stdin, read-only unless --write.

import type { Command } from 'commander';
import { decodeUtf8, readFileBounded, readStreamBounded, SQL_LIMIT } from '../../core/bounded-read.js';
import { CoderdbError, usageError } from '../../core/errors.js';
import { globals, outputFormat, stdout, withContext } from '../shared.js';
import { addWriteFlags, reportOutcome, type WriteFlags, writeOptions } from '../write-flow.js';

interface QueryFlags extends WriteFlags {
  file?: string;
  write?: boolean;
}

export function registerQuery(program: Command): void {
  const command = program
    .command('query')
    .description('run SQL (read-only unless --write); from an argument, -f FILE or stdin')
    .argument('[sql]', 'the SQL to run; several statements separated by ;')
    .option('-f, --file <file>', 'read the SQL from a file (- for stdin)')
    .option('--write', 'allow statements that change data: planned, confirmed, applied in one transaction');
  addWriteFlags(command, { allowAllRows: true });
  command.addHelpText(
    'after',
    `
Examples:
  coderdb query "select id, name from templates where not deleted"
  coderdb query -f report.sql --format csv > report.csv
  coderdb query --write --reason "rebrand" "update templates set description = 'x' where id = '…'"

Output: csv is what \`psql --csv\` prints, byte for byte; several statements follow one another.
With several statements json is one document, one object per statement:
  [{"statement": 1, "rows": [{…}], "command": "SELECT", "rowCount": 1},
   {"statement": 2, "command": "SET", "rowCount": null}]
and ndjson one line per row: {"statement": 1, "row": {…}}. A result that did not arrive whole
(fewer rows than the server counted) fails with exit status 3, never a short file.`,
  );
  command.action(async (sqlArgument: string | undefined, flags: QueryFlags, cmd: Command) => {
    (await import('../../sql/parser.js')).preloadParser();
    const sql = await readSql(sqlArgument, flags.file);
    const format = outputFormat(cmd);
    await withContext(cmd, async (context) => {
      const showSecrets = Boolean(globals(cmd).showSecrets);
      const { createWriter } = await import('../../core/output/formats.js');
      if (!flags.write) {
        const { runReadQuery } = await import('../../ops/query.js');
        await runReadQuery(context, sql, createWriter(format, stdout()), { showSecrets });
        return;
      }
      const { analyze } = await import('../../sql/guard.js');
      const statements = await analyze(sql);
      if (statements.every((statement) => statement.effect === 'read')) {
        const { runAnalyzedRead } = await import('../../ops/query.js');
        await runAnalyzedRead(context, sql, statements, createWriter(format, stdout()), { showSecrets });
        return;
      }
      const { performWrite } = await import('../../ops/write/index.js');
      const outcome = await performWrite(
        context,
        {
          command: 'query',
          sql,
          ...(flags.reason ? { reason: flags.reason } : {}),
          allowAllRows: Boolean(flags.allowAllRows),
        },
        writeOptions(flags, format),
      );
      await reportOutcome(outcome, format);
    });
  });
}

async function readSql(argument: string | undefined, file: string | undefined): Promise<string> {
  if (argument !== undefined && file !== undefined) {
    throw usageError('query.two-sources', 'give the SQL either as an argument or with -f, not both');
  }
  if (argument !== undefined) return argument;
  if (file !== undefined && file !== '-') return decode(readFileOrFail(file), file);
  if (file === undefined && process.stdin.isTTY) {
    throw usageError('query.no-sql', 'no SQL given', {
      hint: 'pass it as an argument, with -f FILE, or on stdin',
    });
  }
  const bytes = await readStreamBounded(process.stdin, SQL_LIMIT, {
    code: 'query.too-large',
    what: 'the SQL on stdin',
  });
  return decode(bytes, 'stdin');
}

function readFileOrFail(file: string): Buffer {
  try {
    return readFileBounded(file, SQL_LIMIT, { code: 'query.too-large', what: `the SQL file ${file}` });
  } catch (error) {
    if (error instanceof CoderdbError) throw error;
    throw usageError(
      'query.file',
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

function decode(bytes: Buffer, source: string): string {
  const text = decodeUtf8(bytes);
  if (text === undefined) throw usageError('sql.encoding', `the SQL from ${source} is not valid UTF-8`);
  return text;
}
