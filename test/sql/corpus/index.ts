// The hostile corpus, by class. Every input has the outcome coderdb must give with every layer on
// (see GuardCase in ../cases.ts); the runs check that outcome and, for every input, that the
// database is exactly as before (test/helpers/fingerprint.ts).

import { CASES, type GuardCase } from '../cases.js';
import { ATTRIBUTE_CALLS } from './attribute-calls.js';
import { CATALOG_REACH } from './catalog-reach.js';
import { GUC_FLIPS } from './guc-flips.js';
import { ALL_ROWS, PLAN_APPLY, REDACTION_FLOWS, TRIGGERS } from './other-features.js';
import { SERVER_FILES } from './server-files.js';
import { SMUGGLING } from './smuggling.js';
import { SQL_EXECUTING } from './sql-executing.js';

export interface CorpusClass {
  id: string;
  title: string;
  cases: GuardCase[];
}

export const CORPUS: CorpusClass[] = [
  { id: 'attribute', title: 'attribute-notation calls', cases: ATTRIBUTE_CALLS },
  { id: 'sql-executing', title: 'SQL-executing functions', cases: SQL_EXECUTING },
  { id: 'guc', title: 'GUC flips', cases: GUC_FLIPS },
  { id: 'smuggling', title: 'multi-statement smuggling', cases: SMUGGLING },
  { id: 'files', title: 'server-file reads', cases: SERVER_FILES },
  { id: 'catalog', title: 'functions only the catalog can judge', cases: CATALOG_REACH },
  { id: 'redaction', title: 'redaction flows', cases: REDACTION_FLOWS },
  { id: 'plan-apply', title: 'plan/apply divergence', cases: PLAN_APPLY },
  { id: 'all-rows', title: 'all-rows disguises', cases: ALL_ROWS },
  { id: 'triggers', title: 'trigger side effects', cases: TRIGGERS },
  { id: 'baseline', title: 'quoting, statements, DML, DDL, COPY, transactions, usage errors', cases: CASES },
];

/** Every input, each once, with its class. */
export const CORPUS_CASES: (GuardCase & { class: string })[] = CORPUS.flatMap((group) =>
  group.cases.map((entry) => ({ ...entry, class: group.id })),
);
