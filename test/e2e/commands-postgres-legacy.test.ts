import { commandSuite } from './commands-suite.js';

commandSuite({ engine: 'postgres', layout: 'legacy' });
