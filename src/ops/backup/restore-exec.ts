// Restore through the Coder container, for the exec transport: the archive goes up the session's
// stdin (base64, ~1 MB/s), is checked against its SHA-256 in the container, and pg_restore runs
// there in one transaction; the row counts come back in the same session.

import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { usageError } from '../../core/errors.js';
import { Base64Encoder, encodedLength } from './base64.js';
import { type ContainerHandle, runScript } from './container.js';
import {
  type ContainerFacts,
  FactsCollector,
  failureError,
  probedDatabase,
  sectionText,
} from './container-facts.js';
import { newNonce } from './frame.js';
import { Meter } from './meter.js';
import { toolErrors } from './pg-tools.js';
import {
  COUNT_SQL,
  type DatabaseFacts,
  PROBE_SQL,
  parseCounts,
  READ_ONLY_PREFIX,
  type TableCount,
} from './probe.js';
import { probeScript, restoreScript } from './remote-script.js';
import { restoreFailed } from './restore-local.js';
import type { ArchiveFormat, ProgressListener } from './types.js';

export async function probeContainer(
  handle: ContainerHandle,
): Promise<{ facts: ContainerFacts; database: DatabaseFacts }> {
  const nonce = newNonce();
  const collector = new FactsCollector();
  const outcome = await runScript(
    handle,
    probeScript({ nonce, urlEnv: handle.profile.urlEnv }, READ_ONLY_PREFIX + PROBE_SQL),
    nonce,
    { label: 'probe', handlers: { event: collector.event } },
  );
  const failure = failureError(collector.facts, handle.profile.urlEnv);
  if (failure) throw failure;
  const database = probedDatabase(outcome);
  if (!database) {
    const why = sectionText(outcome, 'probe.err').trim();
    throw usageError(
      'restore.container-no-psql',
      `cannot inspect the target database from the container${why ? `: ${why}` : ' (psql is missing)'}`,
      {
        hint: 'a restore needs psql and pg_restore in the container (the postgresql client package)',
      },
    );
  }
  return { facts: collector.facts, database };
}

export interface ContainerRestoreOptions {
  format: ArchiveFormat;
  size: number;
  sha256: string;
  clean: boolean;
  facts: ContainerFacts;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export async function restoreInContainer(
  handle: ContainerHandle,
  file: string,
  options: ContainerRestoreOptions,
): Promise<TableCount[] | undefined> {
  if (options.format === 'directory-tar' && !options.facts.tools.has('tar')) {
    throw usageError('restore.container-no-tar', 'the container has no tar to unpack a parallel backup', {
      hint: 'restore it from this machine with --transport direct or tunnel',
    });
  }
  const nonce = newNonce();
  const collector = new FactsCollector();
  const script = restoreScript(
    { nonce, urlEnv: handle.profile.urlEnv },
    {
      encodedLength: encodedLength(options.size),
      size: options.size,
      sha256: options.sha256,
      format: options.format,
      clean: options.clean,
      countSql: READ_ONLY_PREFIX + COUNT_SQL,
    },
  );
  const outcome = await runScript(handle, script, nonce, {
    label: 'restore',
    ...(options.signal ? { signal: options.signal } : {}),
    handlers: { event: collector.event },
    upload: (input) =>
      pipeline(
        createReadStream(file, { highWaterMark: 256 * 1024 }),
        new Meter('upload', options.onProgress, options.size),
        new Base64Encoder(),
        input,
      ),
  });
  const failure = failureError(collector.facts, handle.profile.urlEnv);
  if (failure) throw failure;
  const rc = collector.info('rc')?.[0];
  if (rc !== '0') {
    const stderr = sectionText(outcome, 'restore.err');
    throw restoreFailed(stderr.trim() ? toolErrors(stderr, 'pg_restore') : `exit status ${rc ?? 'unknown'}`);
  }
  const counts = outcome.sections.get('counts');
  if (counts?.status[0] !== '0') return undefined;
  return parseCounts(counts.data.toString('utf8'));
}
