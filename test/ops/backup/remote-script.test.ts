// The container scripts survive ECS Exec's command splitting (google/shlex, no shell) intact, and
// never put the database URL or the marker text itself on the command line.

import { describe, expect, it } from 'vitest';
import { shlexSplit } from '../../../sandbox/agent/shlex.js';
import {
  cleanupScript,
  parallelControlScript,
  parallelFetchScript,
  probeScript,
  restoreScript,
  serialDumpScript,
  shellCommand,
} from '../../../src/ops/backup/remote-script.js';

const context = { nonce: '0123456789ab', urlEnv: 'CODER_PG_CONNECTION_URL' };
const sql = "SELECT 'it''s' AS quoted";

describe('container scripts', () => {
  const scripts = {
    probe: probeScript(context, sql),
    serial: serialDumpScript(context, sql),
    control: parallelControlScript(context, sql, 4),
    fetch: parallelFetchScript(context),
    cleanup: cleanupScript(context),
    restore: restoreScript(context, {
      encodedLength: 400,
      size: 300,
      sha256: 'a'.repeat(64),
      format: 'directory-tar',
      clean: true,
      countSql: sql,
    }),
  };

  for (const [name, script] of Object.entries(scripts)) {
    it(`${name}: splits into exactly sh -c <script>`, () => {
      expect(shlexSplit(shellCommand(script))).toEqual(['sh', '-c', script]);
      expect(script).not.toContain(`@CDB:${context.nonce}:`);
      expect(script).toContain('"$CODER_PG_CONNECTION_URL"');
      expect(shellCommand(script).length).toBeLessThan(8192);
    });
  }

  it('refuses a script with a single quote and a bad variable name', () => {
    expect(() => shellCommand("echo 'x'")).toThrow();
    expect(() => probeScript({ ...context, urlEnv: 'X; rm -rf /' }, sql)).toThrow();
  });
});
