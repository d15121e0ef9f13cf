// The IAM policy language, evaluated in one place for both sides: the doctor decides what identity
// policies it could read allow (when it may not call iam:SimulatePrincipalPolicy), and the sandbox
// authorizes its emulated API calls and answers SimulatePrincipalPolicy with the same code.
// Explicit Deny wins, then any Allow, else an implicit deny. Action/NotAction match
// case-insensitively and Resource/NotResource case-sensitively, with `*` and `?` wildcards.
// Conditions: given the request's context, the Bool and StringEquals operators (and their IfExists
// forms) are evaluated and a statement with any other operator never matches; without a context (the
// doctor cannot know the request's) a statement with a Condition matches only conditionally, and the
// decision says `conditional` instead of guessing. Pure: no SDK, no I/O, so the sandbox may import it.

export interface PolicyStatement {
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  /** IAM accepts a single statement where a list is usual. */
  Statement?: PolicyStatement | PolicyStatement[];
}

/**
 * Condition keys of the request, e.g. `{ 'aws:MultiFactorAuthPresent': 'true' }`. A key that is
 * absent is absent, as in IAM: long-term access keys carry no `aws:MultiFactorAuthPresent`.
 */
export type RequestContext = Record<string, string>;

export type Decision = 'allowed' | 'explicitDeny' | 'implicitDeny';

/** A statement that decided: indices into the documents evaluated and into their statements. */
export interface StatementRef {
  document: number;
  statement: number;
}

export interface Evaluation<D extends string = Decision> {
  decision: D;
  /** The statements behind the decision: the denies, else the allows (none for implicitDeny). */
  matched: StatementRef[];
}

const globs = new Map<string, RegExp>();

/** IAM wildcards: `*` any run of characters, `?` one character. */
export function globMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const key = `${ignoreCase ? 'i' : 's'}:${pattern}`;
  let re = globs.get(key);
  if (!re) {
    const body = [...pattern]
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`, ignoreCase ? 'is' : 's');
    globs.set(key, re);
  }
  return re.test(value);
}

const list = (value: string | string[] | undefined) =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

/** A document's statements as a list. */
export function statementsOf(document: PolicyDocument): PolicyStatement[] {
  const s = document.Statement;
  return s === undefined ? [] : Array.isArray(s) ? s : [s];
}

/** Whether the statement's Action/NotAction and Resource/NotResource cover the request. */
function covers(statement: PolicyStatement, action: string, resource: string): boolean {
  const actions = list(statement.Action);
  const notActions = list(statement.NotAction);
  const actionOk = actions
    ? actions.some((p) => globMatch(p, action, true))
    : notActions
      ? !notActions.some((p) => globMatch(p, action, true))
      : false;
  if (!actionOk) return false;
  const resources = list(statement.Resource);
  const notResources = list(statement.NotResource);
  if (resources) return resources.some((p) => globMatch(p, resource, false));
  if (notResources) return !notResources.some((p) => globMatch(p, resource, false));
  return false;
}

const CONDITION_OPERATORS = ['Bool', 'BoolIfExists', 'StringEquals', 'StringEqualsIfExists'];

/** Every operator and key must hold; the values of one key are alternatives. */
function conditionHolds(
  condition: NonNullable<PolicyStatement['Condition']>,
  context: RequestContext,
): boolean {
  for (const [operator, keys] of Object.entries(condition)) {
    if (!CONDITION_OPERATORS.includes(operator)) return false;
    const ifExists = operator.endsWith('IfExists');
    const bool = operator.startsWith('Bool');
    for (const [key, expected] of Object.entries(keys)) {
      const actual = Object.entries(context).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
      if (actual === undefined) {
        if (ifExists) continue;
        return false;
      }
      const values = Array.isArray(expected) ? expected : [expected];
      const same = (v: string) => (bool ? v.toLowerCase() === actual.toLowerCase() : v === actual);
      if (!values.some(same)) return false;
    }
  }
  return true;
}

/** With a request context every condition is decided, so the answer is never `conditional`. */
export function evaluatePolicies(
  documents: readonly PolicyDocument[],
  action: string,
  resource: string,
  context: RequestContext,
): Evaluation;
export function evaluatePolicies(
  documents: readonly PolicyDocument[],
  action: string,
  resource: string,
): Evaluation<Decision | 'conditional'>;
export function evaluatePolicies(
  documents: readonly PolicyDocument[],
  action: string,
  resource: string,
  context?: RequestContext,
): Evaluation<Decision | 'conditional'> {
  const allows: StatementRef[] = [];
  const denies: StatementRef[] = [];
  const conditionalAllows: StatementRef[] = [];
  const conditionalDenies: StatementRef[] = [];
  documents.forEach((document, d) => {
    statementsOf(document).forEach((statement, s) => {
      if (!covers(statement, action, resource)) return;
      if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') return;
      const ref = { document: d, statement: s };
      const deny = statement.Effect === 'Deny';
      if (statement.Condition && Object.keys(statement.Condition).length > 0) {
        if (context === undefined) (deny ? conditionalDenies : conditionalAllows).push(ref);
        else if (conditionHolds(statement.Condition, context)) (deny ? denies : allows).push(ref);
      } else {
        (deny ? denies : allows).push(ref);
      }
    });
  });
  if (denies.length > 0) return { decision: 'explicitDeny', matched: denies };
  if (conditionalDenies.length > 0) return { decision: 'conditional', matched: conditionalDenies };
  if (allows.length > 0) return { decision: 'allowed', matched: allows };
  if (conditionalAllows.length > 0) return { decision: 'conditional', matched: conditionalAllows };
  return { decision: 'implicitDeny', matched: [] };
}
