// Each safety layer alone (src/core/layers.ts): every other layer switched off through the
// test-only createContext({ disabledLayers }), the corpus run through the read path, and the
// database must not change, nor the bystander session die. PostgreSQL 15 over direct, each layer on
// a fresh copy of the fixture database so that one layer's failure cannot spill into another's run.
//
// To fit in about a minute and a half: every 6th input and the first of each class, with a quick
// check after each input (a bystander ping and one query over rows, sequences, slots, large objects
// and database settings) that names the input that changed something, and the full fingerprint at
// the end of each run.

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgresEngine } from '../../sandbox/engines/postgres.js';
import { findPostgresBinDir } from '../../sandbox/engines/postgres-server.js';
import type { RunningDatabase } from '../../sandbox/engines/types.js';
import { createContext } from '../../src/context.js';
import { DEFAULTS, type Profile } from '../../src/core/config.js';
import { SAFETY_LAYERS, type SafetyLayer } from '../../src/core/layers.js';
import { Secret } from '../../src/core/secret.js';
import { FILE_TARGETS, fingerprint, openBystander } from '../helpers/fingerprint.js';
import { brokenOutcome, CountingWriter, FIXTURE, runRead } from './corpus/harness.js';
import { CORPUS_CASES } from './corpus/index.js';

/**
 * Layers that hold alone on every input of the sample. None does, and none is meant to: each is
 * built against one way in (the guard cannot see into a user function that advances a sequence, the
 * READ ONLY transaction alone falls to `COMMIT` smuggled past it, the catalog has nothing against
 * transaction control …). What the read path promises is the runs above: take any one layer away
 * and the others still hold. A layer that starts to hold alone turns its `it.fails` red; add it
 * here then.
 */
const HOLDS_ALONE = new Set<SafetyLayer>();

const EVERY = 6;
const LARGE = 64 * 1024;

const SAMPLE = (() => {
  const seen = new Set<string>();
  return CORPUS_CASES.filter((entry, index) => {
    if (entry.sql.length > LARGE || entry.expect === 'usage' || entry.skip?.engines.includes('postgres'))
      return false;
    const first = !seen.has(entry.class);
    seen.add(entry.class);
    return first || index % EVERY === 0;
  });
})();

/** One query over what an input is most likely to change, to name the input that changed it. */
async function quickCheck(client: pg.Client, files: string[]): Promise<string> {
  const tables = await client.query<{ name: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1`,
  );
  const parts = tables.rows.map(
    ({ name }) => `(SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM ${name} AS x)`,
  );
  parts.push(
    '(SELECT last_value::text FROM public.s)',
    "(SELECT string_agg(slot_name, ',') FROM pg_replication_slots)",
    '(SELECT count(*)::text FROM pg_largeobject_metadata)',
    "(SELECT string_agg(setconfig::text, ',') FROM pg_db_role_setting)",
    `(SELECT string_agg(path, ',') FROM unnest(ARRAY[${files.map((path) => `'${path}'`).join(', ')}]::text[]) AS path WHERE pg_stat_file(path, true) IS NOT NULL)`,
  );
  const result = await client.query({ text: `SELECT ${parts.join(', ')}`, rowMode: 'array' });
  return JSON.stringify(result.rows);
}

describe.skipIf(findPostgresBinDir(15) === undefined)('each safety layer alone on PostgreSQL 15', () => {
  let database: RunningDatabase;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coderdb-layers-'));
    // The server (the postgres OS user when run as root) must be able to write there, or an input
    // that a lone layer lets through would fail for want of permission and prove nothing.
    chmodSync(dir, 0o777);
    database = await startPostgresEngine({ fixture: FIXTURE });
  }, 120_000);

  afterAll(async () => {
    await database?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Runs the sample with `disabled` switched off on a fresh copy of the fixture database and
   * returns what went wrong: outcomes that are not refusals or clean reads, bystanders lost, and
   * every change to the database, each named by the input that made it.
   */
  async function problemsWith(label: string, disabled: Set<SafetyLayer>): Promise<string[]> {
    const url = await freshCopy(database, label);
    const profile: Profile = { name: `layers-${label}`, ...DEFAULTS, url: new Secret(url) };
    const context = createContext({
      resolvedProfile: profile,
      auditFile: join(dir, `${label}.jsonl`),
      disabledLayers: disabled,
    });
    // The files inputs aim at, moved to a directory of this run's own: another test file running at
    // the same time checks the usual paths, and a weakened read path may let an input write them.
    const files = FILE_TARGETS.map((path) => path.replace('/tmp/', `${dir}/`));
    const retarget = (sql: string) => sql.replaceAll('/tmp/coderdb-', `${dir}/coderdb-`);
    const before = await fingerprint(url, files);
    const checker = new pg.Client({ connectionString: url });
    await checker.connect();
    let bystander = await openBystander(url);
    const problems: string[] = [];
    try {
      let last = await quickCheck(checker, files);
      for (const entry of SAMPLE) {
        const observed = await runRead(context, { ...entry, sql: retarget(entry.sql) }, new CountingWriter());
        const broken = brokenOutcome(observed);
        if (broken) problems.push(`${entry.name}: ${broken}`);
        const lost = await bystander.problem();
        if (lost) {
          problems.push(`${entry.name}: ${lost}`);
          await bystander.close();
          bystander = await openBystander(url);
        }
        const now = await quickCheck(checker, files);
        if (now !== last) problems.push(`${entry.name}: changed the database (${observed.result})`);
        last = now;
      }
      const after = await fingerprint(url, files);
      for (const key of Object.keys({ ...before, ...after })) {
        if (before[key] !== after[key]) problems.push(`by the end of the run: ${key} changed`);
      }
    } finally {
      await bystander.close();
      await checker.end().catch(() => undefined);
      context.dispose();
      for (const path of files) rmSync(path, { force: true });
    }
    expect(SAMPLE.length).toBeGreaterThan(100);
    return problems;
  }

  // The promise the README makes: take away any one layer, and the others still hold.
  for (const layer of SAFETY_LAYERS) {
    it(`without ${layer}, the other layers keep the database unchanged for every input`, async () => {
      expect(await problemsWith(`without_${layer}`, new Set([layer]))).toEqual([]);
    }, 300_000);
  }

  // Each layer alone, every other one off: what it stops by itself. Those in HOLDS_ALONE stop
  // every input; the others are expected to let something through (`it.fails` turns red the day
  // one holds, to be moved).
  for (const layer of SAFETY_LAYERS) {
    const test = HOLDS_ALONE.has(layer) ? it : it.fails;
    test(`${layer} alone keeps the database unchanged for every input`, async () => {
      const others = new Set(SAFETY_LAYERS.filter((other) => other !== layer));
      expect(await problemsWith(`alone_${layer}`, others)).toEqual([]);
    }, 300_000);
  }
});

/** A database of its own for one run, copied from the fixture database. */
async function freshCopy(database: RunningDatabase, layer: string): Promise<string> {
  const name = `layer_${layer.replace(/-/g, '_')}`;
  // Not connected to the template itself, which CREATE DATABASE … TEMPLATE needs unused.
  const admin = new pg.Client({ connectionString: database.url.replace('/coder?', '/postgres?') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE coder`);
  } finally {
    await admin.end();
  }
  return database.url.replace('/coder?', `/${name}?`);
}
