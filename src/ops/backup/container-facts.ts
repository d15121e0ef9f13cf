// What a container script reported about itself before doing its work: which tools it has, its OS
// (for install hints), the pg_dump / pg_restore versions, the database probe, and any `fail`
// marker, turned into errors that say what is missing where and what to do about it.

import { CoderdbError, usageError } from '../../core/errors.js';
import type { FrameOutcome } from './frame.js';
import { type DatabaseFacts, parseFacts } from './probe.js';
import { installHint, type Platform, parseToolVersion, platformOf, type ToolVersion } from './versions.js';

export interface ContainerFacts {
  tools: Set<string>;
  platform: Platform;
  pgDump: ToolVersion | undefined;
  pgRestore: ToolVersion | undefined;
  /** Arguments of each `fail` marker, e.g. ['missing', 'pg_dump']. */
  failures: string[][];
  /** Other markers, in order (info, file, received …). */
  events: { verb: string; args: string[] }[];
}

export class FactsCollector {
  readonly facts: ContainerFacts = {
    tools: new Set(),
    platform: 'unknown',
    pgDump: undefined,
    pgRestore: undefined,
    failures: [],
    events: [],
  };

  /** A FrameHandlers.event implementation. */
  readonly event = (verb: string, args: string[]): void => {
    if (verb === 'fail') {
      this.facts.failures.push(args);
      return;
    }
    if (verb === 'tick') return;
    if (verb === 'info') {
      const [key, ...rest] = args;
      const value = rest.join(' ');
      if (key === 'tools') for (const tool of rest) if (tool) this.facts.tools.add(tool);
      if (key === 'os') this.facts.platform = platformOf(rest[0]);
      if (key === 'pg_dump') this.facts.pgDump = parseToolVersion(value);
      if (key === 'pg_restore') this.facts.pgRestore = parseToolVersion(value);
    }
    if (this.facts.events.length < 100_000) this.facts.events.push({ verb, args });
  };

  /** The value of `info KEY …` (first occurrence), as words. */
  info(key: string): string[] | undefined {
    return this.facts.events.find((event) => event.verb === 'info' && event.args[0] === key)?.args.slice(1);
  }
}

/** The database facts from the `probe` section, or undefined when psql is missing or failed. */
export function probedDatabase(outcome: FrameOutcome): DatabaseFacts | undefined {
  const probe = outcome.sections.get('probe');
  if (probe?.status[0] !== '0') return undefined;
  return parseFacts(probe.data.toString('utf8'));
}

/** A section's text (an `.err` section), or ''. */
export function sectionText(outcome: FrameOutcome, name: string): string {
  return outcome.sections.get(name)?.data.toString('utf8') ?? '';
}

/** The first `fail` marker as an error, if there was one. */
export function failureError(
  facts: ContainerFacts,
  urlEnv: string,
  serverMajor?: number,
): CoderdbError | undefined {
  const failure = facts.failures[0];
  if (!failure) return undefined;
  const [what, ...rest] = failure;
  switch (what) {
    case 'missing': {
      const tool = rest[0] ?? 'a tool';
      return usageError(
        `backup.container-no-${tool.replace(/_/g, '-')}`,
        `${tool} is not installed in the Coder container`,
        {
          hint: `${
            serverMajor === undefined
              ? "install the PostgreSQL client package of the server's major version (Alpine: postgresqlNN-client, Debian: postgresql-client-NN)"
              : installHint(serverMajor, facts.platform)
          } in the image, or run it from this machine with --transport direct or tunnel`,
        },
      );
    }
    case 'no-url':
      return usageError('backup.container-no-url', `the container has no ${rest[0] ?? urlEnv} variable`, {
        hint: 'set urlEnv in the profile to the variable that holds the database URL in the task',
      });
    case 'mktemp':
    case 'mkdir':
      return usageError('backup.container-tmp', 'cannot create a temporary directory in the container', {
        hint: 'the task needs a writable /tmp (or TMPDIR) with room for the dump',
      });
    case 'checksum':
      return new CoderdbError(
        'connection',
        'backup.upload-corrupt',
        'the archive arrived in the container damaged (checksum mismatch)',
        {
          hint: 'nothing was restored; run it again',
        },
      );
    case 'untar':
      return usageError('backup.container-untar', 'the container could not unpack the archive', {
        hint: 'the task needs tar and room in /tmp for the unpacked archive',
      });
    case 'no-dump':
      return new CoderdbError(
        'connection',
        'backup.parallel-no-start',
        'the parallel dump did not start in the container in time',
      );
    case 'timeout':
      return new CoderdbError(
        'connection',
        'backup.parallel-timeout',
        'a parallel transfer session gave up waiting for the dump',
      );
    default:
      return new CoderdbError(
        'internal',
        'backup.container-failed',
        `the container script failed: ${failure.join(' ')}`,
      );
  }
}
