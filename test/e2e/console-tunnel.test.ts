// coderdb console over the tunnel transport, in a real terminal (see console-suite.ts).

import { consoleSuite } from './console-suite.js';

consoleSuite('tunnel', { full: false });
