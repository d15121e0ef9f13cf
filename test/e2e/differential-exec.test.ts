// --transport exec (psql in the task over the SSM data channel) against psql on PGlite and
// PostgreSQL 15 (see differential-helpers.ts).

import { differentialSuite } from './differential-helpers.js';

differentialSuite({ transport: 'exec', raceRuns: 2, largeEngine: 'postgres' });
