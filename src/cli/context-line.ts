// The line that says where a command is about to work, like kubectl's context or `tsh status`:
// profile (PRODUCTION in red), database and server, transport and task, AWS identity. On stderr,
// when it is a terminal or with -v, once per command.

import type { Profile } from '../core/config.js';

export interface SessionFacts {
  transport: string;
  server: { user: string; database: string; version: string };
  where: string;
}

export function contextLine(
  profile: Profile,
  session: SessionFacts,
  identity: string | undefined,
  color: boolean,
): string {
  const production = profile.production ? ` ${paint('1;31', 'PRODUCTION', color)}` : '';
  const parts = [
    `${profile.name}${production}`,
    `${session.server.user}@${session.server.database} (PostgreSQL ${session.server.version})`,
    `via ${session.where}`,
    identity ? `as ${identity}` : undefined,
  ];
  return parts.filter(Boolean).join(' · ');
}

function paint(code: string, text: string, color: boolean): string {
  return color ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** A hook for Context.onSessionOpen that prints the line for the first session only. */
export function announceOnce(
  profile: Profile,
  identity: () => string | undefined,
  write: (line: string) => void,
  color: boolean,
): (session: SessionFacts) => void {
  let done = false;
  return (session) => {
    if (done) return;
    done = true;
    write(contextLine(profile, session, identity(), color));
  };
}
