// `npm run soak -- --sessions N --seed S [--concurrency C] [--max-bytes B] [--verbose]`: runs the
// soak (bench/soak/soak.ts), prints its table, and exits 1 unless every count of trouble is 0.

import { parseArgs } from 'node:util';
import { formatReport, runSoak, soakPassed } from './soak.js';

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    process.stderr.write(`soak: --${name} must be a non-negative integer, not ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  return parsed;
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      sessions: { type: 'string' },
      seed: { type: 'string' },
      concurrency: { type: 'string' },
      'max-bytes': { type: 'string' },
      'bound-ms': { type: 'string' },
      verbose: { type: 'boolean' },
      only: { type: 'string' },
    },
  }).values;
}
try {
  args = parse();
} catch (error) {
  process.stderr.write(`soak: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}

const report = await runSoak({
  sessions: positive('sessions', args.sessions, 100),
  seed: positive('seed', args.seed, 1),
  concurrency: positive('concurrency', args.concurrency, 4),
  maxBytes: positive('max-bytes', args['max-bytes'], 64 * 1024),
  boundMs: positive('bound-ms', args['bound-ms'], 60_000),
  verbose: args.verbose ?? false,
  ...(args.only ? { only: args.only.split(',').map((index) => positive('only', index, 0)) } : {}),
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${formatReport(report)}\n`);
process.exit(soakPassed(report) ? 0 : 1);
