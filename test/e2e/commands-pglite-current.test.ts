import { commandSuite } from './commands-suite.js';

commandSuite({ engine: 'pglite', layout: 'current' });
