// pg_dump inside the Coder container, for the exec transport: where the database is reachable
// without any network path from this machine. Serially, one session streams the custom archive
// (gzip'd and base64'd in the container, unpacked here into the archive file). In parallel, one
// control session runs pg_dump -Fd -j N into a directory in the container while N fetcher sessions
// carry its files back in checked chunks, each over its own ~1 MB/s channel.

import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { CoderdbError } from '../../core/errors.js';
import { ChunkAssembler } from './chunks.js';
import { type ContainerHandle, runScript } from './container.js';
import {
  type ContainerFacts,
  FactsCollector,
  failureError,
  probedDatabase,
  sectionText,
} from './container-facts.js';
import { dumpFailed } from './dump-local.js';
import { type FrameOutcome, newNonce } from './frame.js';
import { type DatabaseFacts, PROBE_SQL, READ_ONLY_PREFIX } from './probe.js';
import {
  cleanupScript,
  parallelControlScript,
  parallelFetchScript,
  serialDumpScript,
} from './remote-script.js';
import { type StreamSink, streamSink } from './sinks.js';
import type { ArchiveMember, ProgressListener } from './types.js';
import { checkDumpVersion, parseServerMismatch, serverMajor } from './versions.js';

const CLEANUP_STALL_MS = 60_000;

export interface ExecDumpResult {
  facts: ContainerFacts;
  database: DatabaseFacts | undefined;
}

const PROBE = READ_ONLY_PREFIX + PROBE_SQL;

/** One session: pg_dump -Fc | gzip | base64, unpacked into `out` (ended when the data ends). */
export async function dumpSeriallyOverExec(
  handle: ContainerHandle,
  out: Writable,
  options: { signal?: AbortSignal; onSize?: (bytes: number) => void } = {},
): Promise<ExecDumpResult> {
  const nonce = newNonce();
  const collector = new FactsCollector();
  let data: StreamSink | undefined;
  const outcome = await runScript(
    handle,
    serialDumpScript({ nonce, urlEnv: handle.profile.urlEnv }, PROBE),
    nonce,
    {
      label: 'backup',
      ...(options.signal ? { signal: options.signal } : {}),
      handlers: {
        event(verb, args) {
          collector.event(verb, args);
          if (verb === 'info' && args[0] === 'size') options.onSize?.(Number(args[1]));
        },
        section(name, args) {
          if (name !== 'data') return undefined;
          const head = args[0] === 'gzip' ? createGunzip() : new PassThrough();
          // A gzip stream that does not unpack (CRC, length, truncation) is a damaged transfer.
          const written = pipeline(head, out).catch((error: unknown) => {
            throw error instanceof CoderdbError ? error : damagedStream(error);
          });
          data = streamSink(head, written);
          return data;
        },
      },
    },
  );
  const result = containerVerdict(handle, collector, outcome);
  const status = data?.status?.[0];
  if (status !== '0') throw containerDumpError(result, outcome, status);
  return result;
}

export interface ParallelDumpOptions {
  /** Fetcher sessions (the control session comes on top). */
  sessions: number;
  /** pg_dump -j in the container. */
  jobs: number;
  /** Local directory (empty, private) the files are assembled in. */
  workDir: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ParallelDumpResult extends ExecDumpResult {
  /** The directory's files, checked against the container's listing; toc.dat first. */
  members: ArchiveMember[];
  /** The removal of the container's directory, still running: await it (never rejects). */
  cleaning: Promise<{ cleanupNote?: string }>;
}

export async function dumpInParallelOverExec(
  handle: ContainerHandle,
  options: ParallelDumpOptions,
): Promise<ParallelDumpResult> {
  const nonce = newNonce();
  const context = { nonce, urlEnv: handle.profile.urlEnv };
  const collector = new FactsCollector();
  const assembler = new ChunkAssembler(options.workDir, options.onProgress);
  const stop = new AbortController();
  const forward = () => stop.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', forward, { once: true });
  const failFast = <T>(promise: Promise<T>) =>
    promise.catch((error: unknown) => {
      stop.abort(error);
      throw error;
    });
  const run = async (): Promise<Omit<ParallelDumpResult, 'cleaning'>> => {
    const control = failFast(
      runScript(handle, parallelControlScript(context, PROBE, options.jobs), nonce, {
        label: 'backup',
        signal: stop.signal,
        handlers: {
          event: (verb, args) => {
            collector.event(verb, args);
            if (verb === 'file') assembler.expect(args);
          },
        },
      }),
    );
    const fetchers = Array.from({ length: options.sessions }, () =>
      failFast(
        runScript(handle, parallelFetchScript(context), nonce, {
          label: 'backup transfer',
          signal: stop.signal,
          handlers: {
            event: collector.event,
            section: (name, args) => (name === 'chunk' ? assembler.chunk(args) : undefined),
          },
        }),
      ),
    );
    const settled = await Promise.allSettled([control, ...fetchers]);
    const controlOutcome = settled[0]!.status === 'fulfilled' ? settled[0].value : undefined;
    const result = containerVerdict(handle, collector, controlOutcome);
    // The first real failure, not the aborts it caused in the other sessions.
    const firstError = settled.find(
      (entry): entry is PromiseRejectedResult => entry.status === 'rejected' && !isAbort(entry.reason),
    );
    if (firstError) throw firstError.reason;
    if (!controlOutcome) throw settledError(settled);
    const rc = collector.info('rc')?.[0];
    if (rc !== '0') throw containerDumpError(result, controlOutcome, rc);
    return { ...result, members: await assembler.finish() };
  };
  try {
    const result = await run();
    // Removing the container's directory overlaps with packing the archive here.
    return { ...result, cleaning: cleanup(handle, context) };
  } catch (error) {
    await cleanup(handle, context);
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', forward);
    await assembler.close();
  }
}

/** What the container reported, or the failure it reported (no URL, a missing tool …) thrown. */
function containerVerdict(
  handle: ContainerHandle,
  collector: FactsCollector,
  outcome: FrameOutcome | undefined,
): ExecDumpResult {
  const database = outcome ? probedDatabase(outcome) : undefined;
  const failure = failureError(
    collector.facts,
    handle.profile.urlEnv,
    database && serverMajor(database.versionNum),
  );
  if (failure) throw failure;
  return { facts: collector.facts, database };
}

/** Removes the dump directory in the container; a failure is a note, not an error. */
async function cleanup(
  handle: ContainerHandle,
  context: { nonce: string; urlEnv: string },
): Promise<{ cleanupNote?: string }> {
  try {
    await runScript(handle, cleanupScript(context), context.nonce, {
      label: 'cleanup',
      stallMs: CLEANUP_STALL_MS,
    });
    return {};
  } catch (error) {
    return {
      cleanupNote: `could not remove the dump directory in the container (${(error as Error).message}); the next parallel backup sweeps it after a day`,
    };
  }
}

function damagedStream(error: unknown): CoderdbError {
  return new CoderdbError(
    'connection',
    'backup.stream-corrupt',
    `the backup stream is corrupted: ${error instanceof Error ? error.message : String(error)}`,
    { hint: 'nothing was kept; run it again (`coderdb doctor` if it keeps happening)' },
  );
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

function settledError(settled: PromiseSettledResult<unknown>[]): unknown {
  const rejected = settled.find((entry): entry is PromiseRejectedResult => entry.status === 'rejected');
  return rejected?.reason ?? new CoderdbError('internal', 'backup.parallel', 'the parallel backup failed');
}

/** pg_dump failed in the container: a version mismatch said plainly, anything else with its stderr. */
function containerDumpError(result: ExecDumpResult, outcome: FrameOutcome, status: string | undefined) {
  const stderr = sectionText(outcome, 'dump.err');
  const { database, facts } = result;
  const mismatch = parseServerMismatch(stderr);
  if (facts.pgDump && (database || mismatch)) {
    checkDumpVersion({
      tool: facts.pgDump,
      serverVersionNum: database?.versionNum ?? versionNumOf(mismatch!.server),
      serverVersion: database?.version ?? mismatch!.server,
      where: 'container',
      platform: facts.platform,
    });
  }
  if (status === undefined && !stderr) {
    return new CoderdbError('connection', 'backup.no-data', 'the container sent no backup data', {
      hint: 'run `coderdb doctor`',
    });
  }
  return dumpFailed('pg_dump in the container', stderr || `exit status ${status}`);
}

/** "18.6" → 180006; "9.6.24" → 90624. */
function versionNumOf(version: string): number {
  const [major = 0, minor = 0, patch = 0] = version.split(/[^\d]+/).map(Number);
  return major >= 10 ? major * 10_000 + minor : major * 10_000 + minor * 100 + patch;
}
