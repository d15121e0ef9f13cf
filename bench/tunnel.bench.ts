// The tunnel transport against direct, in one run against sandboxes (Debian PostgreSQL engine),
// first with the data channel unpaced, then paced like the real agent (1 KiB messages ~1 ms apart,
// about 1 MB/s): query latency on an open connection, connect + query, result throughput, 20
// concurrent connections over one tunnel, and a whole `coderdb query` command. Prints ratios of
// times (tunnel ÷ baseline: above 1 is slower), throughput shown as MB/s alongside.
//
// Needs dist/ (npm run build) and Debian's PostgreSQL 15 server.

import { rmSync } from 'node:fs';
import pg from 'pg';
import {
  cli,
  commandTime,
  isolatedHome,
  mbps,
  median,
  medianTime,
  ms as milliseconds,
  tableRow,
  timed,
} from './lib.js';

// An isolated coderdb home, set before any coderdb module reads the environment.
const home = isolatedHome('tunnel');
const { createContext } = await import('../src/context.js');
const { openTunnel } = await import('../src/transport/tunnel.js');
const { formatPgUrl } = await import('../src/transport/pg-url.js');
const { readSandboxState } = await import('../src/core/sandbox-state.js');

/** With two decimals: unpaced, the tunnel's latencies are fractions of a millisecond apart. */
const ms = (value: number) => milliseconds(value, 2);

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Median latency of `select 1` on an open connection, in ms. */
async function latency(url: string, runs: number): Promise<number> {
  const client = await connect(url);
  try {
    await client.query('select 1');
    return await medianTime(runs, () => client.query('select 1'));
  } finally {
    await client.end();
  }
}

/** Median of a new connection plus one query, in ms. */
async function connectAndQuery(url: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const client = await connect(url);
    await client.query('select 1');
    times.push(performance.now() - start);
    await client.end();
  }
  return median(times);
}

/** A query whose text result is about `bytes` long. */
const resultOf = (bytes: number) =>
  `select g, repeat(md5(g::text), 3) from generate_series(1, ${Math.ceil(bytes / 104)}) g`;

/** Wall time of fetching `bytes` of result over `connections` connections at once, in ms. */
async function fetchTime(url: string, bytes: number, connections = 1): Promise<number> {
  const clients = await Promise.all(Array.from({ length: connections }, () => connect(url)));
  try {
    return await timed(() =>
      Promise.all(clients.map((client) => client.query(resultOf(bytes / connections)))),
    );
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

/** Median wall time of a whole `coderdb query` command, in ms. */
const command = (transport: string, runs: number) =>
  commandTime(runs, ['--transport', transport, 'query', 'select 1', '--format', 'json']);

interface Row {
  what: string;
  tunnel: string;
  direct: string;
  ratio: number;
}

async function measure(paced: boolean): Promise<Row[]> {
  const started = cli(['sandbox', 'start', '--engine', 'postgres', ...(paced ? ['--realistic-pacing'] : [])]);
  if (started.code !== 0) throw new Error(`sandbox start failed: ${started.stderr}`);
  const state = readSandboxState();
  if (!state) throw new Error('no sandbox state');
  const context = createContext({ profile: 'sandbox' });
  const tunnel = await openTunnel(context.profile, context.aws);
  const rows: Row[] = [];
  try {
    const direct = state.databaseUrl;
    const through = formatPgUrl(tunnel.target).reveal();
    const size = paced ? 2_000_000 : 20_000_000;

    const [lt, ld] = [await latency(through, 200), await latency(direct, 200)];
    rows.push({ what: '`select 1` on an open connection', tunnel: ms(lt), direct: ms(ld), ratio: lt / ld });

    const [ct, cd] = [await connectAndQuery(through, 15), await connectAndQuery(direct, 15)];
    rows.push({ what: 'new connection + `select 1`', tunnel: ms(ct), direct: ms(cd), ratio: ct / cd });

    await fetchTime(through, 100_000);
    const [ft, fd] = [await fetchTime(through, size), await fetchTime(direct, size)];
    const [rt, rd] = [size / 1e6 / (ft / 1000), size / 1e6 / (fd / 1000)];
    rows.push({
      what: `${size / 1e6} MB result, one connection (throughput)`,
      tunnel: mbps(rt),
      direct: mbps(rd),
      ratio: ft / fd,
    });

    const [mt, md] = [await fetchTime(through, size, 20), await fetchTime(direct, size, 20)];
    rows.push({
      what: `20 concurrent connections, ${size / 20e6} MB each (wall time)`,
      tunnel: ms(mt),
      direct: ms(md),
      ratio: mt / md,
    });
    rows.push({
      what: '… the same 20 over one tunnel vs one connection for the whole size',
      tunnel: ms(mt),
      direct: ms(ft),
      ratio: mt / ft,
    });

    await tunnel.close();
    context.dispose();
    const [wt, wd] = [command('tunnel', 5), command('direct', 5)];
    rows.push({
      what: '`coderdb query "select 1"`, whole command (tunnel opened and closed)',
      tunnel: ms(wt),
      direct: ms(wd),
      ratio: wt / wd,
    });
  } finally {
    await tunnel.close();
    context.dispose();
    cli(['sandbox', 'stop']);
  }
  return rows;
}

try {
  const sections: string[] = [];
  for (const paced of [false, true]) {
    const rows = await measure(paced);
    sections.push(
      `${paced ? 'Paced like the real agent (`--realistic-pacing`, about 1 MB/s)' : 'Unpaced data channel (the cost of the protocol stack itself)'}:`,
      '',
      '| Measurement | tunnel | direct (baseline) | time ratio |',
      '|---|---:|---:|---:|',
      ...rows.map((row) => tableRow([row.what, row.tunnel, row.direct, `**${row.ratio.toFixed(2)}×**`])),
      '',
    );
  }
  process.stdout.write(`${sections.join('\n')}\n`);
} finally {
  cli(['sandbox', 'stop']);
  rmSync(home, { recursive: true, force: true });
}
