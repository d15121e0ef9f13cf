// The exec transport against a sandbox: the real AWS SDK clients on the emulated endpoint, the
// emulated agent running psql in a real pty, PGlite (PostgreSQL 18) or Debian PostgreSQL 15 behind
// it. Each result is compared with what the direct transport gives for the same SQL, and checked
// against values computed here. Servers before 16 have no pg_prepared_statements.result_types, so
// there psql's \gdesc names the result types: the names differ from direct's, what values become
// (their kind, and whether they are arrays) does not.

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsSession } from '../../../src/aws/session.js';
import { DEFAULTS, type Profile } from '../../../src/core/config.js';
import { CoderdbError } from '../../../src/core/errors.js';
import type { ColumnType } from '../../../src/core/pgtypes.js';
import { Secret } from '../../../src/core/secret.js';
import { directTransport } from '../../../src/transport/direct.js';
import { type ExecSession, execTransport } from '../../../src/transport/exec/index.js';
import { parsePgUrl } from '../../../src/transport/pg-url.js';
import type { DbSession, QueryEvent, Transport } from '../../../src/transport/types.js';
import { type SandboxOptions, startSandbox, type TestSandbox } from '../../helpers/sandbox.js';

interface Outcome {
  fields?: { name: string; type: unknown }[];
  rows: (string | null)[][];
  done?: { command: string; rowCount: number | null };
  notices: { severity: string; message: string }[];
  copy?: string;
  batches: number;
  error?: Record<string, unknown>;
}

async function outcome(session: DbSession, sql: string): Promise<Outcome> {
  const result: Outcome = { rows: [], notices: [], batches: 0 };
  try {
    for await (const event of session.execute(sql)) record(result, event);
  } catch (error) {
    if (!(error instanceof CoderdbError)) throw error;
    const { kind, code, message, sqlState, position, detail, hint } = error;
    result.error = { kind, code, message, sqlState, position, detail, hint };
  }
  return result;
}

function record(result: Outcome, event: QueryEvent): void {
  if (event.kind === 'fields') result.fields = event.fields;
  else if (event.kind === 'rows') {
    result.batches += 1;
    for (const row of event.rows) result.rows.push(row);
  } else if (event.kind === 'done') result.done = { command: event.command, rowCount: event.rowCount };
  else if (event.kind === 'notice') result.notices.push({ severity: event.severity, message: event.message });
  else if (event.kind === 'copy') result.copy = (result.copy ?? '') + event.data.toString('utf8');
}

/**
 * What must be equal across transports: batch boundaries are each transport's own business, and
 * type names may be spelled differently (OID-derived or printed by psql's \gdesc).
 */
function comparable({ batches: _batches, fields, ...rest }: Outcome) {
  return {
    ...rest,
    fields: fields?.map(({ name, type }) => ({
      name,
      kind: (type as ColumnType).kind,
      array: (type as ColumnType).array,
    })),
  };
}

export interface SuiteOptions {
  engine: NonNullable<SandboxOptions['engine']>;
  /** Also run the transport-level tests that do not depend on the engine (faults, big SQL). */
  transportTests: boolean;
}

export function sessionSuite(options: SuiteOptions): void {
  describe(`exec transport on ${options.engine}`, () => {
    /** Describes types by OID (exactly as direct) on servers that have result_types. */
    let hasResultTypes = false;
    let sandbox: TestSandbox;
    let aws: AwsSession;
    let exec: Transport;
    let direct: Transport;
    let profile: Profile;

    const faults = async (method: 'POST' | 'DELETE' | 'GET', plan?: object, session?: string) => {
      const url = new URL('/_sandbox/faults', sandbox.state.awsEndpoint);
      if (session) url.searchParams.set('session', session);
      const response = await fetch(url, {
        method,
        ...(plan ? { body: JSON.stringify(plan), headers: { 'content-type': 'application/json' } } : {}),
      });
      return method === 'GET' ? ((await response.json()) as { fired: Record<string, number> }) : undefined;
    };

    /** Runs `work` on a fresh exec session and closes it. */
    const withExec = async <T>(work: (session: ExecSession) => Promise<T>, transport = exec): Promise<T> => {
      const session = (await transport.open({ applicationName: 'coderdb-test' })) as ExecSession;
      try {
        return await work(session);
      } finally {
        await session.close();
      }
    };
    const withDirect = async <T>(work: (session: DbSession) => Promise<T>): Promise<T> => {
      const session = await direct.open();
      try {
        return await work(session);
      } finally {
        await session.close();
      }
    };
    /** The same statements on both transports, one after the other (PGlite serves one at a time). */
    const both = async (statements: string[]) => {
      const viaExec = await withExec(async (s) => {
        const outcomes: Outcome[] = [];
        for (const sql of statements) outcomes.push(await outcome(s, sql));
        return outcomes;
      });
      const viaDirect = await withDirect(async (s) => {
        const outcomes: Outcome[] = [];
        for (const sql of statements) outcomes.push(await outcome(s, sql));
        return outcomes;
      });
      return { viaExec, viaDirect };
    };

    beforeAll(async () => {
      sandbox = await startSandbox({ engine: options.engine });
      profile = {
        ...DEFAULTS,
        name: 'sandbox',
        transport: 'exec',
        region: sandbox.state.region,
        awsEndpoint: sandbox.state.awsEndpoint!,
      };
      aws = new AwsSession(profile);
      exec = execTransport(profile, aws);
      direct = directTransport({ target: async () => parsePgUrl(new Secret(sandbox.state.databaseUrl)) });
      hasResultTypes = (await withDirect(async (session) => session.server.versionNum)) >= 160000;
    });

    afterAll(async () => {
      aws?.destroy();
      await sandbox?.stop();
    });

    it('opens one psql in the task and knows the same server as the direct transport', async () => {
      const server = await withExec(async (session) => {
        expect(session.transport).toBe('exec');
        expect(session.sessionId).toMatch(/^ecs-execute-command-/);
        const [setting] = (await outcome(session, 'show application_name')).rows;
        expect(setting).toEqual(['coderdb-test']);
        return session.server;
      });
      expect(server).toEqual(await withDirect(async (session) => session.server));
      expect(exec.describe()).toMatch(
        /^exec coder-cluster task \w+, container coder \(\$CODER_PG_CONNECTION_URL\)$/,
      );
    });

    it.runIf(options.transportTests)(
      'explains a container without the URL variable, and a psql that cannot connect',
      async () => {
        const open = (urlEnv: string) => execTransport({ ...profile, urlEnv }, aws).open();
        await expect(open('CODERDB_NO_SUCH_VARIABLE')).rejects.toMatchObject({
          kind: 'connection',
          code: 'exec.no-url',
          message: expect.stringContaining('has no CODERDB_NO_SUCH_VARIABLE environment variable'),
        });
        // HOME holds a directory, which psql takes for a database name on a local socket that is not there.
        const failure = await open('HOME').catch((error: unknown) => error as CoderdbError);
        expect(failure).toBeInstanceOf(CoderdbError);
        expect(failure).toMatchObject({ kind: 'connection' });
        expect((failure as CoderdbError).message).toMatch(
          /^psql in the container could not connect to the database \(task /,
        );
        expect((failure as CoderdbError).message).toContain('failed');
      },
    );

    it('gives the same fields, rows, tags and row counts as direct for every kind of statement', async () => {
      const statements = [
        "select 1::int as i, 9007199254740993::bigint as big, 1.50::numeric as n, true as b, null::text as z, '2024-05-01 12:00:00.123456+00'::timestamptz as ts, '{\"a\":[1,2]}'::jsonb as j, array[1,2] as a, '2024-05-01'::date as d, '\\x00ff'::bytea as by, 'a1b2c3d4-0000-4000-8000-000000000000'::uuid as u, interval '1 day 2 hours' as iv, array['x', null, 'y,z'] as ta",
        'select id, name, transition, initiator_id from workspace_builds order by id limit 3',
        'select * from templates order by id',
        "values (1, null, ''), (2, 'NULL', '\\N')",
        'table organizations',
        "with t as (select g from generate_series(1, 2500) g) select g, repeat('x', g % 7) from t",
        'select 1 where false',
        'show timezone',
        'explain (costs off, format json) select 1',
        "copy (select 1 as a, '' as b, null as c, 'x\"y,z' as d union all select 2, 'q', 'r', E'new\\nline') to stdout with (format csv, header)",
        'copy (select g from generate_series(1, 3) g) to stdout',
        'begin',
        'create temporary table coderdb_t (k int primary key, v text)',
        "insert into coderdb_t values (1, 'a'), (2, 'b')",
        "update coderdb_t set v = v || '!' where k > 0 returning k, v",
        "update coderdb_t set v = 'c' where k = 2",
        'delete from coderdb_t where k = 1',
        'savepoint s1',
        'select 1/0',
        'rollback to savepoint s1',
        'select k, v from coderdb_t',
        'rollback',
      ];
      // Results without columns: psql prints nothing for their rows, which are counted where the
      // server can say the result has no columns (result_types, 16 and later).
      const zeroColumns = hasResultTypes ? ['select', 'select from generate_series(1, 3);  -- the end'] : [];
      const { viaExec, viaDirect } = await both([...statements, ...zeroColumns]);
      [...statements, ...zeroColumns].forEach((sql, index) => {
        expect(comparable(viaExec[index]!), sql).toEqual(comparable(viaDirect[index]!));
        if (hasResultTypes) expect(viaExec[index]!.fields, sql).toEqual(viaDirect[index]!.fields);
      });
      expect(viaExec[0]!.rows[0]).toEqual([
        '1',
        '9007199254740993',
        '1.50',
        't',
        null,
        '2024-05-01 12:00:00.123456+00',
        '{"a": [1, 2]}',
        '{1,2}',
        '2024-05-01',
        '\\x00ff',
        'a1b2c3d4-0000-4000-8000-000000000000',
        '1 day 02:00:00',
        '{x,NULL,"y,z"}',
      ]);
      expect(viaExec[5]!.rows).toHaveLength(2500);
      expect(viaExec[18]!.error).toMatchObject({ sqlState: '22012' });
      expect(viaExec[20]!.rows).toEqual([['2', 'c']]);
    });

    it('brings values back byte for byte: NULL, empty, newlines, quotes, control bytes, any Unicode', async () => {
      const values = [
        '',
        'NULL',
        '\\N',
        'comma, "quotes", \'apostrophes\'',
        'line\nbreak\r\nand CR\r',
        'tab\tand \u0001\u0002\u0003\u0004\u001b[31m escapes \u007f',
        'émoji 🦆 and \uFFFD replacement and \u200b zero width',
        `@${'0'.repeat(32)} Z 1`,
        '\\x',
        '\n',
      ];
      const sql = `select * from (values ${values.map((value, i) => `(${i}, ${literal(value)})`).join(', ')}, (99, null)) v(i, s) order by i`;
      const result = await withExec((session) => outcome(session, sql));
      expect(result.rows).toEqual([...values.map((value, i) => [String(i), value]), ['99', null]]);
    });

    it.runIf(options.transportTests)(
      'delivers SQL with every awkward character intact, whatever psql would make of it',
      async () => {
        const body =
          'quote \' double " dollar $$ $x$ backslash \\ \\\\ :var :\'var\' :"var" \n\\echo at line start\n\\q\n' +
          '; semicolon -- dash /* star */ tab\t CR\r LF\n emoji 🦆 \u0001\u0002\u0003\u0004\u001a\u001c\u007f end';
        const big = body.repeat(Math.ceil((1024 * 1024) / body.length));
        const [small, large, echo] = await withExec(async (session) => [
          await outcome(session, `select md5($q$${body}$q$) as m, length($q$${body}$q$) as n`),
          await outcome(session, `select md5($q$${big}$q$) as m, octet_length($q$${big}$q$) as n`),
          await outcome(session, `select E'\\\\echo :x\\n' as e -- \\q`),
        ]);
        expect(small.rows).toEqual([[md5(body), String([...body].length)]]);
        expect(Buffer.byteLength(big)).toBeGreaterThan(1024 * 1024);
        expect(large.rows).toEqual([[md5(big), String(Buffer.byteLength(big))]]);
        expect(echo.rows).toEqual([['\\echo :x\n']]);
      },
    );

    it('raises the same errors as direct: SQLSTATE, message, position, detail and hint', async () => {
      const statements = [
        'select nosuch from templates',
        '  select\n  1 + nosuch',
        'select 1 +',
        'select 1/0',
        "select 'abc'::int",
        "do $$ begin raise exception 'custom failure' using detail = 'the detail', hint = 'the hint', errcode = '22023'; end $$",
        'select * from no_such_table',
        'select $1::int',
        'begin',
        'create temporary table coderdb_e (k int primary key)',
        'insert into coderdb_e values (1), (1)',
        'select 1',
        'rollback',
      ];
      const { viaExec, viaDirect } = await both(statements);
      statements.forEach((sql, index) => {
        // Direct sends the extended protocol, in which the server accepts $1 at Parse and refuses
        // the missing value at Bind; psql's \gexec sends the simple protocol (no parameters).
        if (sql.includes('$1')) expect(viaDirect[index]!.error, sql).toMatchObject({ kind: 'sql' });
        else expect(viaExec[index]!.error, sql).toEqual(viaDirect[index]!.error);
      });
      expect(viaExec[0]!.error).toMatchObject({ kind: 'sql', sqlState: '42703', position: 8 });
      expect(viaExec[1]!.error).toMatchObject({ position: 16 });
      expect(viaExec[5]!.error).toMatchObject({ detail: 'DETAIL: the detail', hint: 'the hint' });
      expect(viaExec[10]!.error).toMatchObject({
        sqlState: '23505',
        detail: 'DETAIL: Key (k)=(1) already exists.',
      });
      expect(viaExec[11]!.error).toMatchObject({ sqlState: '25P02' });
      expect(viaExec[12]!.done).toEqual({ command: 'ROLLBACK', rowCount: null });
    });

    it('passes notices and warnings on, as direct does', async () => {
      const sql = "do $$ begin raise notice 'first %', 1; raise warning 'second'; end $$";
      const { viaExec, viaDirect } = await both([sql, 'rollback']);
      expect(viaExec[0]!.notices).toEqual([
        { severity: 'NOTICE', message: 'first 1' },
        { severity: 'WARNING', message: 'second' },
      ]);
      expect(comparable(viaExec[0]!)).toEqual(comparable(viaDirect[0]!));
      expect(viaExec[1]!.notices).toEqual(viaDirect[1]!.notices);
    });

    it.runIf(options.transportTests)(
      'describes result columns with \\gdesc (servers before 16), and sends results uncompressed, with the same outcome',
      async () => {
        const statements = [
          "select 1::int as i, 'x'::varchar(5) as v, array[1] as a, '2024-05-01 10:00:00.5'::timestamp(3) as t, null::workspace_transition as e, array['start'::workspace_transition] as ea, 1.5::numeric(4,1) as n",
          'select * from workspaces order by id',
          'select g, md5(g::text) from generate_series(1, 3000) g',
        ];
        const runAll = async (session: DbSession) => {
          const outcomes: Outcome[] = [];
          for (const sql of statements) outcomes.push(await outcome(session, sql));
          return outcomes;
        };
        const plain = await withExec(runAll);
        const viaGdesc = await withExec(runAll, execTransport(profile, aws, { describeWithGdesc: true }));
        const uncompressed = await withExec(runAll, execTransport(profile, aws, { compress: false }));
        statements.forEach((sql, index) => {
          expect(comparable(viaGdesc[index]!), sql).toEqual(comparable(plain[index]!));
          expect(uncompressed[index]!, sql).toEqual({
            ...plain[index]!,
            batches: uncompressed[index]!.batches,
          });
        });
        expect(plain[2]!.rows).toHaveLength(3000);
      },
    );

    it.runIf(options.transportTests)(
      'loses, repeats and reorders nothing of a large result through socket drops and damaged traffic',
      async () => {
        const plan = {
          dropSocketAfterOutputs: 400,
          withholdAcks: { count: 3 },
          duplicateAcks: 10,
          duplicateOutputs: 40,
          reorderOutputs: 40,
          dropOutputs: 15,
          corruptDigest: 15,
          pausePublication: { afterOutputs: 250, durationMs: 300 },
        };
        await faults('POST', plan);
        let session: ExecSession | undefined;
        try {
          session = (await exec.open()) as ExecSession;
        } finally {
          await faults('DELETE');
        }
        try {
          const sql =
            "select g, md5(g::text) as h, repeat('ü', g % 13) as u from generate_series(1, 30000) g";
          const result = await outcome(session, sql);
          expect(result.error).toBeUndefined();
          expect(result.rows).toHaveLength(30000);
          result.rows.forEach((row, index) => {
            const g = index + 1;
            expect(row).toEqual([String(g), md5(String(g)), 'ü'.repeat(g % 13)]);
          });
          expect(result.batches).toBeGreaterThan(5);
          expect(result.done).toEqual({ command: 'SELECT', rowCount: 30000 });
          // The session is still in step afterwards.
          expect((await outcome(session, 'select 42 as a')).rows).toEqual([['42']]);
          const { fired } = (await faults('GET', undefined, session.sessionId))!;
          for (const kind of Object.keys(plan)) expect(fired[kind], kind).toBeGreaterThan(0);
        } finally {
          await session.close();
        }
      },
    );

    it.runIf(options.transportTests)(
      'reads no further ahead than the consumer: a stalled consumer stops the agent at its buffers',
      async () => {
        // 20 MB of hex text, sent uncompressed: about 27 000 Output messages of 1 KiB.
        const sql = 'select repeat(md5(g::text), 20) as h from generate_series(1, 32000) g';
        const session = (await execTransport(profile, aws, { compress: false }).open()) as ExecSession;
        const sent = async () => {
          const answer = (await faults('GET', undefined, session.sessionId)) as unknown as {
            stats: { outputMessagesSent: number };
          };
          return answer.stats.outputMessagesSent;
        };
        try {
          const events = session.execute(sql)[Symbol.asyncIterator]();
          let first: QueryEvent | undefined;
          while (first?.kind !== 'rows') first = (await events.next()).value as QueryEvent;
          // Wait (bounded) until the agent stops sending: two equal readings 300 ms apart.
          let last = -1;
          for (let attempt = 0; attempt < 100; attempt++) {
            const now = await sent();
            if (now === last) break;
            last = now;
            await new Promise((resolve) => setTimeout(resolve, 300));
          }
          expect(last).toBeGreaterThan(0);
          expect(last).toBeLessThan(13_000);
          // Reading on, the rest arrives, complete and in order.
          let rows = first.rows.length;
          let expected = 1;
          for (const row of first.rows) expect(row[0]).toBe(md5(String(expected++)).repeat(20));
          for (let next = await events.next(); !next.done; next = await events.next()) {
            const event = next.value as QueryEvent;
            if (event.kind !== 'rows') continue;
            rows += event.rows.length;
            for (const row of event.rows) expect(row[0]).toBe(md5(String(expected++)).repeat(20));
          }
          expect(rows).toBe(32000);
        } finally {
          await session.close();
        }
      },
    );

    it.runIf(options.transportTests)(
      'reports a session the service closed mid-result as a connection error',
      async () => {
        await faults('POST', {
          closeWithError: { afterOutputs: 150, text: 'Session terminated by the sandbox' },
        });
        let session: ExecSession | undefined;
        try {
          session = (await exec.open()) as ExecSession;
        } finally {
          await faults('DELETE');
        }
        try {
          const result = await outcome(session, 'select g, md5(g::text) from generate_series(1, 50000) g');
          expect(result.error).toMatchObject({ kind: 'connection' });
          expect(String(result.error?.message)).toContain('Session terminated by the sandbox');
          const after = await outcome(session, 'select 1');
          expect(after.error).toMatchObject({ kind: 'connection', code: 'exec.session-unusable' });
        } finally {
          await session.close();
        }
      },
    );

    it('ends the session when a result is abandoned half-way, and refuses further statements', async () => {
      const session = (await exec.open()) as ExecSession;
      try {
        for await (const event of session.execute('select g from generate_series(1, 200000) g')) {
          if (event.kind === 'rows') break;
        }
        expect((await outcome(session, 'select 1')).error).toMatchObject({ code: 'exec.session-unusable' });
      } finally {
        await session.close();
      }
      // A fresh session works: the abandoned one did not leave the database busy.
      expect((await withExec((s) => outcome(s, 'select 2'))).rows).toEqual([['2']]);
    });
  });
}

function literal(value: string): string {
  // E'' with every byte below 0x20 escaped, so that the SQL itself stays printable.
  const body = [...value]
    .map((char) => {
      const code = char.codePointAt(0)!;
      if (char === "'") return "''";
      if (char === '\\') return '\\\\';
      return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : char;
    })
    .join('');
  return `E'${body}'`;
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}
