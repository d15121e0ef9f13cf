// coderdb as a library: the functions scripts import from the package entry point, against a real
// PostgreSQL 15 with the current layout and PGlite with the legacy one.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO } from '../../sandbox/fixture/index.js';
import {
  type CoderdbContext,
  countWorkspaces,
  createContext,
  createWriter,
  databaseConnections,
  databaseSize,
  describeTable,
  listTables,
  listTemplates,
  listUsers,
  listWorkspaces,
  loadCoderSchema,
  loadProfile,
  performUndo,
  runReadQuery,
  StringSink,
  searchTemplates,
  setTemplateDescription,
  toObjects,
  withReadSession,
} from '../../src/index.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

for (const [engine, layout] of [
  ['postgres', 'current'],
  ['pglite', 'legacy'],
] as const) {
  describe(`library on ${engine}, ${layout} layout`, () => {
    let sandbox: TestSandbox;
    let context: CoderdbContext;

    beforeAll(async () => {
      sandbox = await startSandbox({ engine, layout });
      const config = join(sandbox.dir, 'empty-config.json');
      writeFileSync(config, '{}');
      context = createContext({
        resolvedProfile: loadProfile({
          configFile: config,
          env: {},
          overrides: { url: sandbox.state.databaseUrl },
        }),
        auditFile: join(sandbox.dir, 'audit.jsonl'),
      });
    });
    afterAll(async () => {
      context?.dispose();
      await sandbox?.stop();
    });

    it('reads with every operation', async () => {
      await withReadSession(context, async (db) => {
        const schema = await loadCoderSchema(db);
        expect(schema.migration).toBe(DEMO.migrations[layout]);
        expect(schema.has('templates', 'deprecated')).toBe(layout === 'current');
        expect(toObjects(await listTemplates(db))).toHaveLength(DEMO.templateCount - 1);
        expect(toObjects(await searchTemplates(db, 'kubernetes')).length).toBeGreaterThan(0);
        const users = toObjects(await listUsers(db));
        expect(users).toHaveLength(DEMO.userCount - 1);
        expect(users[0]).not.toHaveProperty('hashed_password');
        expect(toObjects(await listWorkspaces(db)).length).toBeGreaterThan(0);
        expect(toObjects(await countWorkspaces(db)).length).toBe(DEMO.templateCount - 1);
        expect(toObjects(await listTables(db)).some((row) => row.name === 'workspace_builds')).toBe(true);
        const described = await describeTable(db, 'users');
        expect(toObjects(described.columns).map((row) => row.column)).toContain('email');
        expect(Number(toObjects((await databaseSize(db)).database)[0]!.bytes)).toBeGreaterThan(0);
        expect(toObjects(await databaseConnections(db, { all: true })).length).toBeGreaterThan(0);
      });
      const sink = new StringSink();
      await runReadQuery(context, 'select count(*) as n from organizations', createWriter('json', sink));
      expect(JSON.parse(sink.text())).toEqual([{ n: 2 }]);
    });

    it('writes and undoes through the same plan/apply path as the CLI', async () => {
      const asked: number[] = [];
      const outcome = await setTemplateDescription(context, 'docker', 'from a script', {
        org: DEMO.organizations.default.name,
        reason: 'library test',
        confirm: async (plan) => {
          asked.push(plan.statements[0]!.rowCount ?? -1);
          return true;
        },
      });
      expect(asked).toEqual([1]);
      expect(outcome.applied?.undoFile).toBeDefined();
      const undone = await performUndo(context, outcome.applied!.undoFile!, { confirm: async () => true });
      expect(undone.applied?.statements[0]?.rowCount).toBe(1);
      const description = await withReadSession(context, async (db) =>
        toObjects(await db.all(`select description from templates where id = '${DEMO.docker.defaultOrg}'`)),
      );
      expect(description[0]!.description).toBe(DEMO.starterDescription);
    });
  });
}
