#!/usr/bin/env node
// The coderdb executable. Node 22.1+ can keep the compiled code of coderdb and its dependencies on
// disk between runs; that has to be switched on before the modules load, so everything else is
// imported after it. On Node 20 there is no such cache and this costs nothing.

import module from 'node:module';

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
await import('./run.js');
