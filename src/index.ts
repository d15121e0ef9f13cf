// coderdb as a library: every command is a function over a Context, so scripts can do what the CLI
// does with the same safety (guard, read-only transactions, plan/apply/undo, audit log).
//
//   import { createContext, withReadSession, listTemplates } from 'coderdb';
//   const context = createContext({ profile: 'sandbox' });
//   const templates = await withReadSession(context, (db) => listTemplates(db));

export { type CoderdbContext, type ContextOptions, createContext, createTransport } from './context.js';
export { type AuditEntry, AuditLog, type AuditSink } from './core/audit.js';
export { DEFAULTS, loadProfile, type Profile, TRANSPORTS, type TransportName } from './core/config.js';
export { CoderdbError, ExitCode } from './core/errors.js';
export { createWriter, FORMATS, type Format, type ResultWriter } from './core/output/formats.js';
export { Sink, StringSink } from './core/output/sink.js';
export type { ColumnType, Field, JsonValue, RawRow } from './core/pgtypes.js';
export { redactUrl, Secret } from './core/secret.js';
export {
  inspectBackup,
  listBackups,
  restoreBackup,
  takeBackup,
  verifyBackup,
} from './ops/backup/index.js';
export { databaseConnections, databaseSize, describeTable, listTables } from './ops/catalog.js';
export { countWorkspaces, listUsers, listWorkspaces } from './ops/coder/people.js';
export { loadCoderSchema } from './ops/coder/schema.js';
export { isSecretColumn } from './ops/coder/secrets.js';
export {
  listTemplates,
  replaceTemplateDescriptions,
  resolveTemplate,
  searchTemplates,
  setTemplateDescription,
} from './ops/coder/templates.js';
export { type Context, Db, type ResultSet, toObjects, withReadSession } from './ops/db.js';
export { checkCatalog, type DoctorReport, runDoctor } from './ops/doctor/index.js';
export { runReadQuery } from './ops/query.js';
export {
  applyWrite,
  performUndo,
  performWrite,
  planWrite,
  type WriteOutcome,
  type WritePlan,
} from './ops/write/index.js';
export { type AnalyzedStatement, analyze, enforce } from './sql/guard.js';
export { quoteIdent, quoteLiteral, sql } from './sql/literal.js';
export { directTransport } from './transport/direct.js';
export type { DbSession, QueryEvent, Transport } from './transport/types.js';
