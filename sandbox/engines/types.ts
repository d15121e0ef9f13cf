// What every sandbox database engine gives back once it accepts connections.

export interface RunningDatabase {
  engine: 'pglite' | 'postgres';
  /** postgres:// URL on 127.0.0.1 with throwaway trust credentials. */
  url: string;
  /** server_version, e.g. "18.6" or "15.18 (Debian …)". */
  version: string;
  /** The postgres engine's temporary directory (data, socket, log), for a clean-up after a crash. */
  serverDir?: string;
  close(): Promise<void>;
}
