#!/usr/bin/env node
// The coderdb executable. Node 22.1+ can keep the compiled code of coderdb and its dependencies on
// disk between runs; that has to be switched on before the modules load, so everything else is
// imported after it. On Node 20 there is no such cache and this costs nothing.

import module from 'node:module';
import { setFlagsFromString } from 'node:v8';

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
// node-postgres asks on load whether it runs in a Cloudflare Worker: through `navigator`, which Node
// has from 21, or else by building a Response, which on Node 20 loads Node's whole fetch
// implementation (50–100 ms) before the first byte is sent. Node 21+'s own value, on Node 20 only.
if (typeof (globalThis as { navigator?: unknown }).navigator === 'undefined') {
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
}
// The SQL parser is WebAssembly, compiled as each command starts. Node 20's V8 compiles all of it
// twice: quickly (Liftoff), then again in the background for speed (TurboFan), and a command that
// is done waits at exit for that second compilation, ~100 ms, to save microseconds on the few short
// statements a command parses. Set before the module is compiled, this keeps the first one only.
// Node 22+ tiers up only the functions that run hot, and is no faster with it (BENCHMARKS.md).
if (process.versions.node.startsWith('20.')) setFlagsFromString('--liftoff-only');
await import('./run.js');
