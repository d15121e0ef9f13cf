// coderdb console over the exec transport, in a real terminal (see console-suite.ts).

import { consoleSuite } from './console-suite.js';

consoleSuite('exec', { full: false });
