#!/usr/bin/env node
// The coderdb executable. Node 22.1+ can keep the compiled code of coderdb and its dependencies on
// disk between runs; that has to be switched on before the modules load, so everything else is
// imported after it. On Node 20 there is no such cache and this costs nothing.

import module from 'node:module';

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
await import('./run.js');
