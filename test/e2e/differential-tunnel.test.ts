// --transport tunnel (SSM port forwarding + node-postgres) against psql on PGlite and PostgreSQL 15
// (see differential-helpers.ts).

import { differentialSuite } from './differential-helpers.js';

differentialSuite({ transport: 'tunnel', raceRuns: 3, largeEngine: 'pglite' });
