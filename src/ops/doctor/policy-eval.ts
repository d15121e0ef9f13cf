// Reads IAM identity policies the way `aws iam get-role-policy` shows them and decides an action on
// a resource: explicit Deny wins, then any Allow, else an implicit deny. This is the fallback for
// callers who may read policies but not call iam:SimulatePrincipalPolicy. Statements with a
// Condition cannot be decided from here (the request's context is unknown), so they make the
// answer `conditional` instead of guessing; SCPs, permission boundaries and resource policies are
// out of sight, which the findings say.

export type Answer = 'allowed' | 'denied' | 'explicitDeny' | 'conditional' | 'unknown';

export interface Statement {
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, unknown>;
}

export interface PolicyDocument {
  Statement?: Statement | Statement[];
}

/** A policy document as IAM returns it: JSON, URL-encoded by the Query API. */
export function parsePolicyDocument(text: string): PolicyDocument {
  let json = text;
  if (/^\s*%7B/i.test(text)) {
    try {
      json = decodeURIComponent(text);
    } catch {
      json = text;
    }
  }
  const parsed = JSON.parse(json) as PolicyDocument;
  if (typeof parsed !== 'object' || parsed === null)
    throw new Error('a policy document must be a JSON object');
  return parsed;
}

const globs = new Map<string, RegExp>();

/** IAM wildcards: `*` any run of characters, `?` one character. */
export function globMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const key = `${ignoreCase ? 'i' : 's'}${pattern}`;
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

function matches(statement: Statement, action: string, resource: string): boolean {
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

function statements(document: PolicyDocument): Statement[] {
  const s = document.Statement;
  return s === undefined ? [] : Array.isArray(s) ? s : [s];
}

export function decide(documents: readonly PolicyDocument[], action: string, resource: string): Answer {
  let allowed = false;
  let conditionalAllow = false;
  let conditionalDeny = false;
  for (const document of documents) {
    for (const statement of statements(document)) {
      if (!matches(statement, action, resource)) continue;
      const conditional = Boolean(statement.Condition && Object.keys(statement.Condition).length > 0);
      if (statement.Effect === 'Deny') {
        if (!conditional) return 'explicitDeny';
        conditionalDeny = true;
      } else if (statement.Effect === 'Allow') {
        if (conditional) conditionalAllow = true;
        else allowed = true;
      }
    }
  }
  if (conditionalDeny) return 'conditional';
  if (allowed) return 'allowed';
  return conditionalAllow ? 'conditional' : 'denied';
}
