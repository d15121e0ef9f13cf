// The console's prompt: profile, database, transport and mode, as psql puts the database name in
// its own. `prod:coder (exec, read-only)=> `; a production profile is red, and write mode is
// unmistakable (inverse, `WRITE`, and `=#` as psql shows a superuser).

export interface PromptFacts {
  profile: string;
  database: string;
  transport: string;
  mode: 'read' | 'write';
  production: boolean;
  /** Colours only on a terminal that shows them. */
  color: boolean;
}

const RED = '\x1b[31m';
const INVERSE_RED = '\x1b[1;41;97m';
const RESET = '\x1b[0m';

export function promptText(facts: PromptFacts, continuation = false): string {
  const mode = facts.mode === 'write' ? 'WRITE' : 'read-only';
  const head = `${facts.profile}:${facts.database} (${facts.transport}, ${mode})`;
  const tail = continuation ? '->' : facts.mode === 'write' ? '=#' : '=>';
  const text = `${head}${tail} `;
  if (!facts.color) return text;
  if (facts.mode === 'write') return `${INVERSE_RED}${head}${RESET}${tail} `;
  return facts.production ? `${RED}${head}${RESET}${tail} ` : text;
}
