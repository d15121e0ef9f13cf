// Backup and restore as a library: take a verified archive of the database over any transport,
// check one, list them, restore one with guardrails. See backup.ts and restore.ts for the flows.

export { type BackupOptions, MAX_PARALLEL, takeBackup } from './backup.js';
export { type ListedBackup, type ListedStatus, listBackups } from './list.js';
export { manifestPath, readManifest } from './manifest.js';
export type { BackupContext, BackupTransport } from './reach.js';
export { chooseTransport } from './reach.js';
export {
  type RestoreOptions,
  type RestorePlan,
  type RestoreQuestion,
  type RestoreResult,
  restoreBackup,
} from './restore.js';
export type {
  ArchiveFormat,
  ArchiveMember,
  BackupResult,
  Manifest,
  Progress,
  ProgressListener,
  ProgressPhase,
  TableEstimate,
} from './types.js';
export {
  inspectBackup,
  type VerifyCheck,
  type VerifyOptions,
  type VerifyReport,
  verifyBackup,
} from './verify.js';
