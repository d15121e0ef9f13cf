// --transport direct against psql on PGlite and PostgreSQL 15: every format, 0 to 1,000,000 rows,
// repeated to catch a race, with slow and closed consumers (see differential-helpers.ts).

import { differentialSuite } from './differential-helpers.js';

differentialSuite({ transport: 'direct', raceRuns: 4, largeEngine: 'postgres' });
