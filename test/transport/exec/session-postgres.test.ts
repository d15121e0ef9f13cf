import { sessionSuite } from './session-suite.js';

sessionSuite({ engine: 'postgres', transportTests: false });
