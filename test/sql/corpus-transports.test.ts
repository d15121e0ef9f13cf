// The hostile corpus over exec (psql in the emulated task, over the SSM data channel) and tunnel
// (SSM port forwarding), through the library's read path against a sandbox whose database also
// holds the corpus fixture (in a schema of its own, first on the search path, beside Coder's).
//
// The matrix. An exec or tunnel session costs an ECS Exec (or port-forwarding) start, and over exec
// a psql, about a second in the sandbox, so these runs sample the corpus (direct runs all of it on
// both engines in read-only.test.ts, where size and nesting are tested too):
//   exec   : every 8th input on PGlite, every 16th on PostgreSQL 15
//   tunnel : every 4th input on PostgreSQL 15, every 16th on PGlite
// always with the first input of each class, and without inputs over 2 KiB (PGlite served by
// pglite-socket can hang for good on deep nesting, and exec carries text at ~1 MB/s). Inputs the
// guard refuses never open a session, so most of the time goes to reads and catalog refusals. For
// each input the outcome must be what direct gives and the bystander session must stay alive; the
// fingerprint of the database must not change.

import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoderdbContext, createContext } from '../../src/context.js';
import { DEFAULTS, type Profile, SANDBOX_PROFILE, type TransportName } from '../../src/core/config.js';
import { Secret } from '../../src/core/secret.js';
import { analyze } from '../../src/sql/guard.js';
import { type Bystander, fingerprint, openBystander } from '../helpers/fingerprint.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';
import { CountingWriter, FIXTURE, mismatch, type Observed, runRead } from './corpus/harness.js';
import { CORPUS_CASES } from './corpus/index.js';

const LARGE = 2 * 1024;

interface Run {
  transport: Extract<TransportName, 'exec' | 'tunnel'>;
  /** 1: every input; n: every n-th (and the first of each class). */
  every: number;
}

const MATRIX: { engine: 'pglite' | 'postgres'; runs: Run[] }[] = [
  {
    engine: 'pglite',
    runs: [
      { transport: 'exec', every: 8 },
      { transport: 'tunnel', every: 16 },
    ],
  },
  {
    engine: 'postgres',
    runs: [
      { transport: 'tunnel', every: 4 },
      { transport: 'exec', every: 16 },
    ],
  },
];

function sampled(engine: string, every: number) {
  const seen = new Set<string>();
  return CORPUS_CASES.filter((entry, index) => {
    if (entry.sql.length > LARGE || entry.skip?.engines.includes(engine as 'pglite')) return false;
    const first = !seen.has(entry.class);
    seen.add(entry.class);
    return first || index % every === 0;
  });
}

/** Loads the corpus fixture into its own schema and puts that schema first for every session. */
async function loadFixture(url: string, engine: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CREATE SCHEMA corpus');
    await client.query('SET search_path = corpus, public');
    await client.query(FIXTURE);
    // PGlite has one backend for every connection: the SET above already holds for all of them.
    if (engine === 'postgres') {
      const { rows } = await client.query<{ name: string }>('SELECT quote_ident(current_database()) AS name');
      await client.query(`ALTER DATABASE ${rows[0]!.name} SET search_path = corpus, public`);
    }
  } finally {
    await client.end();
  }
}

for (const { engine, runs } of MATRIX) {
  describe(`the corpus over exec and tunnel, sandbox on ${engine}`, () => {
    let sandbox: TestSandbox;
    let before: Record<string, string>;
    let bystander: Bystander;
    /** PGlite: a connection that puts the corpus schema back on the shared backend's path, which
     * every read session's RESET ALL takes away again. */
    let pathKeeper: pg.Client | undefined;
    const contexts: CoderdbContext[] = [];

    const contextFor = (transport: TransportName): CoderdbContext => {
      const profile: Profile = {
        ...DEFAULTS,
        name: SANDBOX_PROFILE,
        transport,
        url: new Secret(sandbox.state.databaseUrl),
        ...(sandbox.state.awsEndpoint ? { awsEndpoint: sandbox.state.awsEndpoint } : {}),
        region: sandbox.state.region,
      };
      const context = createContext({
        resolvedProfile: profile,
        auditFile: join(sandbox.dir, 'audit.jsonl'),
      });
      contexts.push(context);
      return context;
    };

    beforeAll(async () => {
      sandbox = await startSandbox({ engine });
      await loadFixture(sandbox.state.databaseUrl, engine);
      before = await fingerprint(sandbox.state.databaseUrl);
      bystander = await openBystander(sandbox.state.databaseUrl);
      if (engine === 'pglite') {
        pathKeeper = new pg.Client({ connectionString: sandbox.state.databaseUrl });
        await pathKeeper.connect();
      }
    }, 240_000);

    afterAll(async () => {
      await pathKeeper?.end().catch(() => undefined);
      await bystander?.close();
      for (const context of contexts) context.dispose();
      await sandbox?.stop();
    });

    for (const run of runs) {
      it(`${run.transport}: every ${run.every}th input gets its outcome`, async () => {
        const context = contextFor(run.transport);
        const problems: { name: string; problem: string; observed: Observed }[] = [];
        const cases = sampled(engine, run.every);
        for (const entry of cases) {
          await pathKeeper?.query('SET search_path = corpus, public');
          const writer = new CountingWriter();
          const observed = await runRead(context, entry, writer);
          observed.statements = writer.statements;
          const statements =
            entry.expect === 'read' && observed.result === 'ok'
              ? (await analyze(entry.sql)).length
              : undefined;
          const problem = mismatch(entry, observed, statements) ?? (await bystander.problem());
          if (problem) problems.push({ name: entry.name, problem, observed });
        }
        expect(problems).toEqual([]);
        expect(cases.length).toBeGreaterThan(800 / run.every);
      }, 600_000);
    }

    it('leaves the database exactly as it was, and the bystander alive', async () => {
      const after = await fingerprint(sandbox.state.databaseUrl);
      if (engine === 'pglite') {
        // PGlite serves every connection from one backend, whose session settings this test
        // itself moves (the corpus path above); on a real server they die with each connection.
        delete after['settings of a new session'];
        delete before['settings of a new session'];
      }
      expect(after).toEqual(before);
      expect(await bystander.problem()).toBeUndefined();
    });
  });
}
