// Bundles the CLI, the library and the sandbox into dist/ with esbuild.
// Dependencies stay external (they are installed beside us); our own code is bundled so that
// start-up reads a handful of files instead of hundreds. Splitting keeps the sandbox, the parser
// and the AWS code in chunks that only load when a command needs them.
import { chmod, readFile, rename, rm } from 'node:fs/promises';
import { build } from 'esbuild';

const { version } = JSON.parse(await readFile('package.json', 'utf8'));
// Build beside dist/ and swap it in, so that a running CLI or test never sees a half-built tree.
const next = `dist.next-${process.pid}`;
await build({
  entryPoints: { cli: 'src/cli/main.ts', index: 'src/index.ts' },
  outdir: next,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  logLevel: 'warning',
  legalComments: 'none',
  define: { CODERDB_VERSION: JSON.stringify(version) },
});
await chmod(`${next}/cli.js`, 0o755);
const previous = `dist.old-${process.pid}`;
await rename('dist', previous).catch(() => undefined);
await rename(next, 'dist');
await rm(previous, { recursive: true, force: true });
