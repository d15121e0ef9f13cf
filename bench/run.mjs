// Runs every bench/*.bench.ts in turn (npm run bench), or the ones named: npm run bench -- startup
// Each script measures coderdb against a baseline in the same run and prints ratios as Markdown.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';

const wanted = process.argv.slice(2);
const scripts = readdirSync(new URL('.', import.meta.url))
  .filter((file) => file.endsWith('.bench.ts'))
  .filter((file) => wanted.length === 0 || wanted.some((name) => file.startsWith(name)))
  .sort();
let failed = 0;
for (const script of scripts) {
  process.stdout.write(`\n## ${script}\n\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', new URL(script, import.meta.url).pathname], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed += 1;
}
process.exitCode = failed ? 1 : 0;
