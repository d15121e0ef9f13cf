import { sessionSuite } from './session-suite.js';

sessionSuite({ engine: 'pglite', transportTests: true });
