// How the emulated agent ends a session's command: as a terminal that goes away does, with SIGHUP,
// so that the shell's traps run (the backup scripts remove their temporary directory on HUP), and
// with SIGKILL shortly after for a command that ignores the hangup.

const GRACE_MS = 300;

export function hangUp(signal: (name: NodeJS.Signals) => void): void {
  const send = (name: NodeJS.Signals) => {
    try {
      signal(name);
    } catch {
      // Already gone.
    }
  };
  send('SIGHUP');
  setTimeout(() => send('SIGKILL'), GRACE_MS);
}
