// The session layers of the read-only boundary, each alone: with every other layer switched off
// (createContext({ disabledLayers })), the issue's attack and variants of it leave the database
// exactly as it was, over direct, exec and tunnel, on PGlite and PostgreSQL 15. The database is
// compared by fingerprint, not by the layer's own verdict. A control run with all four session
// layers off shows that the attack does change the database, so the test can tell.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/context.js';
import { SAFETY_LAYERS, type SafetyLayer } from '../../src/core/layers.js';
import { createWriter } from '../../src/core/output/formats.js';
import { StringSink } from '../../src/index.js';
import { runReadQuery } from '../../src/ops/query.js';
import { fingerprint } from '../helpers/fingerprint.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

/** The issue's file: ts_stat runs a set_config that turns standard_conforming_strings off, then
 * the second statement is one SELECT to the guard and SELECT; COMMIT; UPDATE to the server. */
const ISSUE_ATTACK = String.raw`select ('select to_tsvector(set_config(''standard_conforming_strings'',''off'',false))'::text).ts_stat;
select 'a\', ' b; commit; update templates set description = $$PWNED$$ where id = id; --'`;

/** The same with ROLLBACK, END and ABORT ending the transaction, and the flip as a plain SET. */
const VARIANTS = ['rollback', 'end', 'abort'].map(
  (
    ender,
  ) => String.raw`select ('select to_tsvector(set_config(''standard_conforming_strings'',''off'',false))'::text).ts_stat;
select 'a\', ' b; ${ender}; update templates set description = $$PWNED$$ where id = id; --'`,
);

/** Turns the session's read-only default off, then ends the transaction (a session-read-only test). */
const DEFAULT_READ_WRITE = String.raw`select ('select to_tsvector(set_config(''default_transaction_read_only'',''off'',false))'::text).ts_stat;
select ('select to_tsvector(set_config(''standard_conforming_strings'',''off'',false))'::text).ts_stat;
select 'a\', ' b; commit; update templates set description = $$PWNED$$ where id = id; --'`;

const SESSION_LAYERS = ['single-statement', 'session-read-only', 'settings-watch'] as const;

/** Every layer off but those kept. */
function onlyLayer(...keep: SafetyLayer[]): Set<SafetyLayer> {
  return new Set(SAFETY_LAYERS.filter((layer) => !keep.includes(layer)));
}

for (const engine of ['pglite', 'postgres'] as const) {
  describe(`the session layers, each alone, on ${engine}`, () => {
    let sandbox: TestSandbox;
    let configFile: string;
    const saved: Record<string, string | undefined> = {};

    beforeAll(async () => {
      sandbox = await startSandbox({ engine });
      // The built-in sandbox profile reads the sandbox's state from the XDG directories.
      for (const name of ['XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME']) {
        saved[name] = process.env[name];
        if (sandbox.env[name]) process.env[name] = sandbox.env[name];
      }
      configFile = join(sandbox.dir, 'empty-config.json');
      writeFileSync(configFile, '{}');
    }, 240_000);
    afterAll(async () => {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await sandbox?.stop();
    });

    /**
     * The database's fingerprint. PGlite serves every connection from one backend, so a setting an
     * attack changed in a session that coderdb then ended outlives it there (on a real server it
     * dies with the connection): those are the backend's, not the database's, and not compared.
     */
    const snapshot = async (): Promise<Record<string, string>> => {
      const print = await fingerprint(sandbox.state.databaseUrl);
      if (engine === 'pglite') delete print['settings of a new session'];
      return print;
    };

    /** Runs `sql` as `coderdb query` does; returns the error code, or 'ok'. */
    async function attack(transport: string, disabled: Set<SafetyLayer>, sql: string): Promise<string> {
      const context = createContext({
        profile: 'sandbox',
        configFile,
        env: sandbox.env,
        overrides: { transport },
        disabledLayers: disabled,
      });
      try {
        // With --show-secrets: the attack's ts_stat result is not the shape the redaction analysis
        // expects, and redaction would refuse it first; these tests are about the session layers.
        await runReadQuery(context, sql, createWriter('json', new StringSink()), { showSecrets: true });
        return 'ok';
      } catch (error) {
        return String((error as { code?: string }).code ?? error);
      } finally {
        context.dispose();
      }
    }

    for (const transport of ['direct', 'exec', 'tunnel'] as const) {
      for (const layer of SESSION_LAYERS) {
        it(`over ${transport}, ${layer} alone stops the issue's attack`, async () => {
          const before = await snapshot();
          const outcome = await attack(transport, onlyLayer(layer), ISSUE_ATTACK);
          expect(await snapshot()).toEqual(before);
          const expected = {
            'single-statement':
              transport === 'exec' ? 'session.lexical-settings-changed' : 'session.multiple-statements',
            'session-read-only': 'sql.25006',
            'settings-watch': 'session.setting-changed',
          }[layer];
          expect(outcome).toBe(expected);
        }, 120_000);
      }
    }

    for (const transport of ['direct', 'exec'] as const) {
      it(`over ${transport}, each layer alone stops ROLLBACK, END and ABORT smuggled the same way`, async () => {
        const before = await snapshot();
        for (const layer of SESSION_LAYERS) {
          for (const sql of VARIANTS) {
            expect(await attack(transport, onlyLayer(layer), sql), `${layer}: ${sql}`).not.toBe('ok');
          }
        }
        expect(await snapshot()).toEqual(before);
      }, 300_000);

      // The read-only default is on only with session-read-only, so the watch is tried with that
      // layer on too: what is watched is the default being turned off under the session.
      it(`over ${transport}, the watch ends the session when the read-only default is turned off`, async () => {
        const before = await snapshot();
        const watchAndDefault = onlyLayer('settings-watch', 'session-read-only');
        const outcome = await attack(transport, watchAndDefault, DEFAULT_READ_WRITE);
        expect(outcome).toBe('session.setting-changed');
        for (const sql of [
          'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
          "select set_config('default_transaction_read_only', 'off', false)",
        ]) {
          expect(await attack(transport, watchAndDefault, sql), sql).toBe('session.setting-changed');
        }
        const encoding = "select set_config('client_encoding', 'LATIN1', false)";
        expect(await attack(transport, onlyLayer('settings-watch'), encoding)).toBe(
          'session.setting-changed',
        );
        expect(await snapshot()).toEqual(before);
      }, 180_000);
    }

    it('a read session is read-only, has its timeouts, and a write session after it can write', async () => {
      const context = createContext({ profile: 'sandbox', configFile, env: sandbox.env });
      const sink = new StringSink();
      try {
        await runReadQuery(
          context,
          "select current_setting('default_transaction_read_only') as ro, current_setting('statement_timeout') as st, current_setting('lock_timeout') as lt",
          createWriter('json', sink),
        );
        expect(JSON.parse(sink.text())).toEqual([{ ro: 'on', st: '5min', lt: '5s' }]);
      } finally {
        context.dispose();
      }
      // PGlite serves every connection from one backend: the read session put its settings back.
      const after = await fingerprint(sandbox.state.databaseUrl);
      expect(after['settings of a new session']).toContain('["default_transaction_read_only","off"]');
    }, 120_000);

    // Last: it changes the database.
    it('control: with the session layers off, the attack does change the database', async () => {
      const before = await snapshot();
      await attack('direct', onlyLayer(), ISSUE_ATTACK);
      expect(await snapshot()).not.toEqual(before);
    }, 120_000);
  });
}
