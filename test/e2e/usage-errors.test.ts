// Argument errors look like every other coderdb error: `coderdb: …` on one line, exit status 2.

import { afterAll, describe, expect, it } from 'vitest';
import { createHome } from '../helpers/cli.js';

const home = createHome();
afterAll(() => home.remove());

describe('argument errors', () => {
  it.each([
    [['query', '--bogus'], "coderdb: unknown option '--bogus'"],
    [['describe'], "coderdb: missing required argument 'table'"],
    [['tables', 'extra'], "coderdb: too many arguments for 'tables'"],
    [['--transport', 'carrier-pigeon', 'tables'], 'coderdb: option'],
    [['nosuchcommand'], "coderdb: unknown command 'nosuchcommand'"],
  ])('coderdb %j', async (args, start) => {
    const result = await home.cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr.startsWith(start), result.stderr).toBe(true);
    expect(result.stderr).not.toMatch(/^error:/m);
  });
});

describe('one meaning per short flag', () => {
  it('-n is exec --no-stdin only; audit takes --limit', async () => {
    const audit = await home.cli(['audit', '-n', '5']);
    expect(audit.code).toBe(2);
    expect(audit.stderr).toContain("unknown option '-n'");
    expect((await home.cli(['audit', '--limit', '5'])).code).toBe(0);
  });
});
