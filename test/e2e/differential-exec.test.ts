// --transport exec (psql in the task over the SSM data channel) against psql on PGlite and
// PostgreSQL 15 (see differential-helpers.ts). The data channel is the slowest path, so its large
// export is 300,000 rows; direct and tunnel export 1,000,000.

import { differentialSuite } from './differential-helpers.js';

differentialSuite({ transport: 'exec', raceRuns: 2, largeEngine: 'postgres', largeRows: 300_000 });
