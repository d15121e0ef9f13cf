// coderdb console over the direct transport, in a real terminal (see console-suite.ts).

import { consoleSuite } from './console-suite.js';

consoleSuite('direct', { full: true });
