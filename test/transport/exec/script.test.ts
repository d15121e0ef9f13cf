// What the exec transport sends before anything runs: the bootstrap command (split as the agent
// splits it), the plan for each kind of statement, and psql input that respects the pty's limits.

import { describe, expect, it } from 'vitest';
import { shlexSplit } from '../../../sandbox/agent/shlex.js';
import { bootstrapCommand } from '../../../src/transport/exec/bootstrap.js';
import { type ScriptContext, statementScript } from '../../../src/transport/exec/psql-script.js';
import { planStatements, startsLikeSelect } from '../../../src/transport/exec/statement-plan.js';

const NONCE = '0123456789abcdef0123456789abcdef';
const context: ScriptContext = {
  marker: `@${NONCE}`,
  nullMarker: `N${NONCE}`,
  psqlVersion: 150018,
  serverVersion: 150004,
  compress: false,
};

describe('bootstrapCommand', () => {
  it('is one `sh -c` script for the agent to split, and never carries the URL itself', () => {
    const command = bootstrapCommand({
      nonce: NONCE,
      urlEnv: 'CODER_PG_CONNECTION_URL',
      installClient: false,
    });
    const words = shlexSplit(command);
    expect(words.slice(0, 2)).toEqual(['sh', '-c']);
    expect(words).toHaveLength(3);
    expect(words[2]).toContain('"$CODER_PG_CONNECTION_URL"');
    expect(words[2]).not.toContain('apk');
    // psql itself gets the URL as PG* variables (parsed in the container), never in its argv.
    const psqlLine = words[2]!.split('; ').find((step) => step.includes(' psql '));
    expect(psqlLine).toBeDefined();
    expect(psqlLine).not.toContain('$CODER_PG_CONNECTION_URL');
    expect(command.length).toBeLessThan(4096);
    const installing = bootstrapCommand({ nonce: NONCE, urlEnv: 'DB_URL', installClient: true });
    expect(shlexSplit(installing)[2]).toContain('apk add --no-cache postgresql-client');
  });

  it('refuses an environment variable name that the shell would not read as one', () => {
    expect(() => bootstrapCommand({ nonce: NONCE, urlEnv: 'X; rm -rf /', installClient: false })).toThrow(
      /not an environment variable name/,
    );
  });
});

describe('planStatements', () => {
  const kinds = async (sql: string) => (await planStatements(sql)).map((plan) => [plan.kind, plan.command]);

  it('describes what returns rows and reads the tag of what does not', async () => {
    expect(await kinds('select 1')).toEqual([['described', 'SELECT']]);
    expect(await kinds('values (1)')).toEqual([['described', 'SELECT']]);
    expect(await kinds('update t set a = 1 where b = 2 returning *')).toEqual([['described', 'UPDATE']]);
    expect(await kinds('update t set a = 1 where b = 2')).toEqual([['command', 'UPDATE']]);
    expect(await kinds('select 1 into t2')).toEqual([['command', 'SELECT']]);
    expect(await kinds('BEGIN TRANSACTION READ ONLY')).toEqual([['command', 'BEGIN']]);
    expect(await kinds('create table t (a int)')).toEqual([['command', 'CREATE']]);
    expect(await kinds('show all')).toEqual([['typed', 'SHOW']]);
    expect(await kinds('explain select 1')).toEqual([['typed', 'EXPLAIN']]);
    expect(await kinds('fetch 10 from c')).toEqual([['untyped', 'FETCH']]);
    expect(await kinds('move 10 in c')).toEqual([['command', 'MOVE']]);
    expect(await kinds('copy t to stdout with (format csv)')).toEqual([['copy', 'COPY']]);
    expect(await kinds('select from where')).toEqual([['untyped', 'SELECT']]);
    expect(await kinds('select 1; select 2')).toEqual([
      ['described', 'SELECT'],
      ['described', 'SELECT'],
    ]);
  });

  it('knows the types of EXPLAIN and SHOW without asking', async () => {
    const [json] = await planStatements('explain (format json) select 1');
    expect(json?.types).toEqual([114]);
    const [all] = await planStatements('show all');
    expect(all?.types).toEqual([25, 25, 25]);
  });

  it('streams plain queries through a cursor, but not ones with a data-modifying WITH', async () => {
    const [plain] = await planStatements('with a as (select 1) select * from a');
    expect(plain?.streamable).toBe(true);
    const [writing] = await planStatements(
      'with a as (delete from t where x = 1 returning *) select * from a',
    );
    expect(writing?.streamable).toBe(false);
  });

  it('refuses COPY FROM STDIN, whose data would be read from psql’s own input', async () => {
    await expect(planStatements('copy t from stdin')).rejects.toMatchObject({ code: 'exec.copy-from-stdin' });
  });

  it('recognises what psql fetches through a cursor by itself', () => {
    expect(startsLikeSelect('  -- c\n /* a /* nested */ */ ((SELECT 1))')).toBe(true);
    expect(startsLikeSelect('values (1)')).toBe(true);
    expect(startsLikeSelect('with a as (select 1) select 1')).toBe(false);
    expect(startsLikeSelect('table t')).toBe(false);
    expect(startsLikeSelect('selectx')).toBe(false);
  });
});

describe('statementScript', () => {
  it('sends SQL of any content base64-encoded, in lines the pty accepts even in cooked mode', async () => {
    const sql = `select $$${'\\echo :var \'"; \u0003\r\n🦆'.repeat(60_000)}$$ as x`;
    const [plan] = await planStatements(sql);
    const script = statementScript(plan!, 7, context).text;
    const lines = script.split('\n');
    expect(Math.max(...lines.map((line) => Buffer.byteLength(line)))).toBeLessThan(3000);
    // Nothing of the statement reaches psql's lexer: every input byte is printable ASCII.
    expect(/^[\x20-\x7e\n]*$/.test(script)).toBe(true);
    expect(script).not.toContain('\\echo :var');
  });

  it('sends short plain statements as they are, so they also run in a failed transaction', async () => {
    const [rollback] = await planStatements('ROLLBACK TO SAVEPOINT coderdb_plan');
    expect(statementScript(rollback!, 1, context).text).toContain(
      '\nROLLBACK TO SAVEPOINT coderdb_plan\n\\g\n',
    );
    const [quoted] = await planStatements("SET application_name = 'x'");
    expect(statementScript(quoted!, 1, context).text).not.toContain("'x'");
  });

  it('wraps a streamable query that psql before 17 would not fetch through a cursor', async () => {
    const [plan] = await planStatements('table pg_class');
    expect(statementScript(plan!, 1, context).text).toContain(
      'SELECT * FROM (\ntable pg_class\n) AS coderdb_q\n\\g',
    );
    const modern = statementScript(plan!, 1, { ...context, psqlVersion: 170002 }).text;
    expect(modern).toContain('\\set FETCH_COUNT 1000\n');
    expect(modern).toContain('\ntable pg_class\n\\g\n');
  });
});
