// Ctrl-C at a confirmation prompt, in a real terminal, is an interruption: exit 130 and nothing
// applied, not the "refused" of a declined confirmation.

import pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { startSandbox, type TestSandbox } from '../helpers/sandbox.js';

let sandbox: TestSandbox;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox?.stop();
});

/** Runs coderdb in a pty, presses Ctrl-C once `prompt` shows, and resolves with the exit status. */
function interruptAtPrompt(args: string[], prompt: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const term = pty.spawn(process.execPath, [CLI, ...args], {
      env: sandbox.env as Record<string, string>,
      cols: 120,
      rows: 30,
    });
    let output = '';
    let pressed = false;
    const timer = setTimeout(() => {
      term.kill();
      reject(new Error(`no exit within 120 s; output so far: ${output}`));
    }, 120_000);
    term.onData((data) => {
      output += data;
      if (!pressed && output.includes(prompt)) {
        pressed = true;
        term.write('\x03');
      }
    });
    term.onExit(({ exitCode }) => {
      clearTimeout(timer);
      resolve({ code: exitCode, output });
    });
  });
}

describe('Ctrl-C at a prompt', () => {
  it('exits 130 at the write confirmation and applies nothing', async () => {
    const before = await sandbox.run([
      'query',
      '--format',
      'csv',
      "select description from templates where name = 'docker'",
    ]);
    const result = await interruptAtPrompt(
      ['query', '--write', "update templates set description = 'interrupted?' where name = 'docker'"],
      'Type yes to commit',
    );
    expect(result.code, result.output).toBe(130);
    const after = await sandbox.run([
      'query',
      '--format',
      'csv',
      "select description from templates where name = 'docker'",
    ]);
    expect(after.stdout).toBe(before.stdout);
  });
});
